"""The eval report as text: one table per protocol, then one per stratum."""

from __future__ import annotations

from typing import Any

from search_eval.metrics import ALL_STRATA

NAME_WIDTH = 24  # the longest variant name, soft-best-t0.05-cap0.05, and a space


def _interval(data: dict[str, float], signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{data['value']:{sign}.3f} [{data['low']:{sign}.3f}, {data['high']:{sign}.3f}]"


def _label(name: str, default: str) -> str:
    return f"{name} *" if name == default else name


def format_eval_report(data: dict[str, Any]) -> str:
    """Return the report: per protocol, every variant overall, then per stratum."""
    default, baseline = data["default_variant"], data["baseline"]
    lines = [
        f"model   {data['model']} on {data['device']} ({data['precision']})",
        f"data    {' + '.join(data['sources'])}: {data['rows']:,} rows, {data['gifs']:,} GIFs, "
        f"{data['multi_description_gifs']:,} with 2+ descriptions",
    ]
    for protocol, result in data["protocols"].items():
        variants = result["variants"]
        lines += [
            "",
            f"{protocol}: {result['indexed']:,} descriptions indexed, "
            f"{result['queries']:,} queries (top {data['rank_depth']}: MRR@{data['rank_depth']})",
            f"{'variant':<{NAME_WIDTH}} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6}  "
            f"R@10 - {baseline} [95% CI]",
        ]
        for name, strata in variants.items():
            overall = strata[ALL_STRATA]
            versus = overall.get("recall@10_vs_baseline")
            lines.append(
                f"{_label(name, default):<{NAME_WIDTH}} "
                + " ".join(f"{overall[m]['value']:6.3f}" for m in ("recall@1", "recall@5"))
                + f" {overall['recall@10']['value']:6.3f} {overall['mrr']['value']:6.3f}  "
                + (_interval(versus, signed=True) if versus else "")
            )
        strata_names = [s for s in next(iter(variants.values())) if s != ALL_STRATA]
        for stratum in strata_names:
            count = variants[baseline][stratum]["queries"]
            lines += [
                "",
                f"  {protocol}, target GIF with {stratum} findable description(s): "
                f"{count:,} queries",
                f"  {'variant':<{NAME_WIDTH}} {'R@1 [95% CI]':<22} {'R@10 [95% CI]':<22} "
                f"{'MRR [95% CI]':<22} R@10 - {baseline} [95% CI]",
            ]
            for name, by_stratum in variants.items():
                cell = by_stratum[stratum]
                versus = cell.get("recall@10_vs_baseline")
                lines.append(
                    f"  {_label(name, default):<{NAME_WIDTH}} {_interval(cell['recall@1']):<22} "
                    f"{_interval(cell['recall@10']):<22} {_interval(cell['mrr']):<22} "
                    + (_interval(versus, signed=True) if versus else "")
                )
    lines += ["", f"* search's ranking ({default})", "", "variants:"]
    lines += [f"  {name}: {about}" for name, about in data["variants"].items()]
    return "\n".join(lines)
