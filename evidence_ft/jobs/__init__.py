"""The jobs behind the run_*.py scripts, each a function of the composed config.

``train`` (run_train.py), ``cv`` (run_train.py cv.folds=k), ``evaluate`` (run_eval.py),
``predict`` (run_predict.py) and ``search`` (run_search.py) read top to bottom and build on
the library modules of ``evidence_ft``; nothing in the library imports a job.
"""
