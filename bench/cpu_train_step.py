"""PyTorch anchor for bench/cpu_train_step.cpp: the same LLaMA architecture
(transformers' LlamaForCausalLM, float32, SDPA attention, untied head), the
same batch shapes, torch.optim.AdamW, and the same thread count. Times a full
step (zero_grad, forward, backward, AdamW) and prints one JSON line.

    python bench/cpu_train_step.py --config C2 --steps 5 --warmup 1 --threads 2 [--compile] [--autocast]
"""
import argparse
import json
import resource
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

CONFIGS = {
    "C1": dict(vocab=4096, seq=256, layers=6, dim=256, heads=8, ff=688, batch=16),
    "C2": dict(vocab=8192, seq=512, layers=8, dim=512, heads=8, ff=1376, batch=8),
    "tiny": dict(vocab=512, seq=64, layers=2, dim=64, heads=4, ff=176, batch=4),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="C2", choices=sorted(CONFIGS))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (slow to start on 2 cores)")
    ap.add_argument("--autocast", action="store_true",
                    help='forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)')
    args = ap.parse_args()
    c = CONFIGS[args.config]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=c["vocab"], hidden_size=c["dim"], intermediate_size=c["ff"],
                      num_hidden_layers=c["layers"], num_attention_heads=c["heads"],
                      num_key_value_heads=c["heads"], head_dim=c["dim"] // c["heads"],
                      max_position_embeddings=c["seq"], rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=False, attn_implementation="sdpa")
    model = LlamaForCausalLM(cfg).float().train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    step_model = torch.compile(model) if args.compile else model
    B, T = c["batch"], c["seq"]
    data = torch.randint(0, c["vocab"], (B, T + 1))
    inputs, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    times, loss = [], None
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast):
            logits = step_model(input_ids=inputs, use_cache=False).logits
            loss = torch.nn.functional.cross_entropy(logits.view(-1, c["vocab"]), targets.view(-1))
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if step >= args.warmup:
            times.append(elapsed)
    median = statistics.median(times)
    print(json.dumps({
        "impl": ("torch-compile" if args.compile else "torch") + ("-autocast-bf16" if args.autocast else ""),
        "torch_version": torch.__version__,
        "config": args.config,
        "threads": torch.get_num_threads(),
        "params": params,
        "step_s_median": median,
        "step_s_min": min(times),
        "tokens_per_s": B * T / median,
        "final_loss": loss.item(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
