#!/usr/bin/env python3
"""E3 v2 sizing study (docs/experiments.md "E3 v2 sizing"): does the base
model learn the world v2 inference (A -> A persistence, A -> B link) at a
given model size, token budget and world knobs?

For each named configuration it runs one arm (rho = 0.9 unless the config
says otherwise) and one seed of a base-model-only recipe (no SFT) through
`masque experiment run`, then prints one table row: steps, tokens, the model's
share of the ideal observer's shift for persistence and link at each context
length, the uncorrelated control's shift, final val loss and the CPU time
(user + sys, a load-independent cost; wall ~ CPU / 2 on an idle 2-core
machine).

    bench/e3v2_sizing.py build/e3v2/masque [config ...]   # no config: list them
    env: SIZING_OUT (default build/e3v2-sizing: recipes, outputs, cache),
    MASQUE_CACHE (stage cache, default SIZING_OUT/cache), SIZING_THREADS (1)
"""
import json
import os
import resource
import subprocess
import sys

BASE_WORLD = {
    "version": 2, "characters": 24, "ai_fraction": 0,
    "show_probability": 0.5, "one_off_fraction": 0.8, "chat_fraction": 0.1,
    "request_fraction": 0.2,
    "documents": {"story": 300, "dialogue": 300, "interview": 2000, "biography": 0,
                  "news": 200, "ai_story": 0},
    "biographies_per_character": 3, "eval_documents": 40,
}
BASE_PRETRAIN = {"depth": 2, "batch_size": 8, "seq_len": 256, "steps": 300}

# name -> (world patch, pretrain patch, rho): the rows of docs/experiments.md
# "E3 v2 sizing" (ad-hoc configs as key=value,... work too).
CONFIGS = {
    "default": ({}, {}, 0.9),
    "d2-600": ({}, {"depth": 2, "steps": 600}, 0.9),
    "d1-1200": ({}, {"depth": 1, "steps": 1200}, 0.9),
    "q08-d1-1200": ({"show_probability": 0.8}, {"depth": 1, "steps": 1200}, 0.9),
    "q08-d1-600x16": ({"show_probability": 0.8}, {"depth": 1, "steps": 600, "batch_size": 16}, 0.9),
    "q08-d1-300x32": ({"show_probability": 0.8}, {"depth": 1, "steps": 300, "batch_size": 32}, 0.9),
    "chosen": ({"show_probability": 0.8}, {"depth": 1, "steps": 2400}, 0.9),
    "chosen-rho0": ({"show_probability": 0.8}, {"depth": 1, "steps": 2400}, 0.0),
}


def turn_range(v):
    """interview_turns: "6" (fixed) or "6-8" (uniform in [6, 8])."""
    lo, _, hi = v.partition("-")
    return [int(lo), int(hi)] if hi else int(lo)


def parse_config(name):
    """A named config, or an ad-hoc one: key=value,... (world keys: show,
    oneoff, chat, interviews, turns (6 or 6-8), sharp, repeat; pretrain keys: depth,
    hidden, heads, steps, batch, seq, lr, sched, warmup; rho)."""
    if name in CONFIGS:
        return CONFIGS[name]
    world, pretrain, rho = {}, {}, 0.9
    keys = {"show": ("w", "show_probability", float), "oneoff": ("w", "one_off_fraction", float),
            "chat": ("w", "chat_fraction", float), "turns": ("w", "interview_turns", turn_range),
            "sharp": ("w", "expression_sharpness", float),
            "repeat": ("w", "piece_repeat_probability", float),
            "depth": ("p", "depth", int), "hidden": ("p", "hidden_size", int), "heads": ("p", "heads", int),
            "steps": ("p", "steps", int),
            "batch": ("p", "batch_size", int), "seq": ("p", "seq_len", int),
            "lr": ("p", "lr", float), "sched": ("p", "schedule", str),
            "warmup": ("p", "warmup_steps", int)}
    for part in name.split(","):
        k, _, v = part.partition("=")
        if k == "rho":
            rho = float(v)
        elif k in ("interviews", "stories", "dialogues", "news"):
            kind = {"interviews": "interview", "stories": "story", "dialogues": "dialogue",
                    "news": "news"}[k]
            world.setdefault("documents", {})[kind] = int(v)
        elif k in keys:
            where, field, conv = keys[k]
            (world if where == "w" else pretrain)[field] = conv(v)
        else:
            sys.exit(f"unknown config '{name}' (key '{k}'); named: {', '.join(CONFIGS)}")
    return world, pretrain, rho


def merge(base, patch):
    out = json.loads(json.dumps(base))
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def recipe(name, world, pretrain, rho, turns):
    return {
        "name": "sizing",
        "title": f"E3 v2 sizing: {name}",
        "question": "Does the base model learn the world v2 inference?",
        "prediction": "-",
        "seeds": [1],
        "tokenizer": {"vocab_size": 1024},
        "world": merge(BASE_WORLD, world),
        "pretrain": merge(BASE_PRETRAIN, pretrain),
        "arms": [{"name": f"rho={rho}", "x": rho, "label": f"rho = {rho}",
                  "world": {"correlations": [{"traits": ["kindness", "power_seeking"],
                                              "rho": -rho}]}}],
        "sft": {"steps": 1, "batch_size": 1},
        "models": [],
        "measure": {"base": True, "probes": [],
                    "inference": [{"name": "inference", "evidence": "kindness",
                                   "evidence_pole": -1, "target": "power_seeking",
                                   "control": "formality", "turns": turns, "count": 32}],
                    "e1": {"samples": 0}},
        "claims": [],
    }


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        print("named configs:", ", ".join(CONFIGS))
        return
    masque = sys.argv[1]
    root = os.environ.get("SIZING_OUT", "build/e3v2-sizing")
    os.makedirs(root, exist_ok=True)
    cache = os.environ.get("MASQUE_CACHE", os.path.join(root, "cache"))
    turns = [1, 4]
    print("| config | rho | steps | tokens | val loss | A->A share t1 / t4 | A->B share t1 / t4 "
          "| A->C t4 (nats) | CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in sys.argv[2:]:
        world, pretrain, rho = parse_config(name)
        out = os.path.join(root, name.replace("=", "").replace(",", "_"))
        path = out + ".json"
        with open(path, "w") as f:
            json.dump(recipe(name, world, pretrain, rho, turns), f)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        threads = os.environ.get("SIZING_THREADS", "1")
        subprocess.run([masque, "--threads", threads, "--quiet", "experiment", "run", path,
                        "--out", out, "--cache", cache, "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        res = json.load(open(os.path.join(out, "results.json")))
        run = res["runs"][0]
        pre = run["pretrain"]
        rows = run["models"]["base"]["inference"]["inference"]["rows"]
        get = lambda kind, t, f: next(r[f] for r in rows if r["kind"] == kind and r["turns"] == t)
        fmt = lambda v: "-" if v is None else f"{v:.3f}"
        share = lambda kind: " / ".join(fmt(get(kind, t, "share_of_ideal")) for t in turns)
        print(f"| {name} | {rho} | {pre['steps']} | {pre['tokens']} | "
              f"{fmt(pre.get('final_val_loss'))} | {share('persistence')} | {share('link')} | "
              f"{fmt(get('control', 4, 'model'))} | {cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
