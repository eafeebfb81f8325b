from evidence_ft.hardware import Capabilities, resolve
from evidence_ft.trainer import build_training_args

AUTO = {"bf16": None, "fp16": None, "tf32": None, "optim": None, "dataloader_pin_memory": None}
CPU = Capabilities()
A100 = Capabilities(cuda=True, bf16=True, compute_capability=(8, 0), device_name="A100")
V100 = Capabilities(cuda=True, bf16=False, compute_capability=(7, 0), device_name="V100")


def test_cpu_stays_fp32_with_fused_adamw():
    out, decisions = resolve(AUTO, CPU)
    assert (out["bf16"], out["fp16"], out["tf32"]) == (False, False, None)
    assert out["optim"] == "adamw_torch_fused"
    assert out["dataloader_pin_memory"] is False
    assert any("fp32" in d for d in decisions)


def test_ampere_gets_bf16_and_tf32():
    out, _ = resolve(AUTO, A100)
    assert (out["bf16"], out["fp16"], out["tf32"]) == (True, False, True)
    assert out["dataloader_pin_memory"] is True


def test_pre_ampere_gets_fp16_and_no_tf32():
    out, _ = resolve(AUTO, V100)
    assert (out["bf16"], out["fp16"], out["tf32"]) == (False, True, None)


def test_explicit_values_win():
    out, decisions = resolve(
        {**AUTO, "bf16": False, "fp16": False, "tf32": False, "optim": "sgd"}, A100
    )
    assert (out["bf16"], out["fp16"], out["tf32"], out["optim"]) == (False, False, False, "sgd")
    assert sum("set in config" in d for d in decisions) >= 3


def test_use_cpu_on_a_gpu_machine_is_fp32():
    out, _ = resolve({**AUTO, "use_cpu": True}, A100)
    assert (out["bf16"], out["fp16"], out["tf32"]) == (False, False, None)


def test_no_fused_adamw_falls_back():
    out, _ = resolve(AUTO, Capabilities(fused_adamw=False))
    assert out["optim"] == "adamw_torch"


def test_persistent_workers_need_workers():
    out, _ = resolve(
        {**AUTO, "dataloader_persistent_workers": True, "dataloader_num_workers": 0}, CPU
    )
    assert out["dataloader_persistent_workers"] is False


def test_build_training_args_on_cpu(tmp_path):
    args, _ = build_training_args(
        {**AUTO, "activation_checkpointing": True, "report_to": []}, str(tmp_path), seed=3, caps=CPU
    )
    assert args.seed == 3 and args.optim == "adamw_torch_fused" and not args.bf16
    assert args.activation_checkpointing_kwargs == {"use_reentrant": False}
