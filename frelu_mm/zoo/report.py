"""The zoo check's summary: per backbone family, configs and accepted, with reasons."""
from collections import Counter, defaultdict
from typing import Dict, List

from .twins import TWINS

FAMILY_ORDER = ('ResNet', 'ResNeXt', 'RegNet', 'HRNet')


def summarize(records: List[dict], results: Dict[str, dict]) -> dict:
    """Totals, one table per family and the reason of each config not accepted.

    Args:
        records (list[dict]): configs as ``judge_configs`` left them.
        results (dict): group key -> ``check_backbone`` result.
    """
    loaded = [r for r in records if r['status'] == 'ok']
    with_twin = [r for r in loaded if r.get('with_twin')]
    families = {}
    for family in FAMILY_ORDER:
        rows = defaultdict(lambda: dict(configs=0, accepted=0))
        members, refused = set(), []
        for r in with_twin:
            hosts = {b['host'] for b in r['backbones'] if b['family'] == family}
            if not hosts:
                continue
            members.add(r['config'])
            for host in sorted(hosts):
                rows[host]['configs'] += 1
                rows[host]['accepted'] += r['accepted']
            if not r['accepted']:
                refused.append(dict(config=r['config'], reason=r['reason']))
        if members:
            families[family] = dict(
                configs=len(members), accepted=len(members) - len(refused),
                rows=[dict(host=h, twin=TWINS[tuple(h.split('.'))][0], **v)
                      for h, v in sorted(rows.items())],
                not_accepted=refused)
    others = Counter(b['host'] for r in loaded for b in r['backbones'] if b['group'] is None)
    return dict(
        totals=dict(config_files=len(records), with_model=len(loaded),
                    load_errors=sum(r['status'] == 'load error' for r in records),
                    without_model=sum(r['status'] == 'no model' for r in records),
                    with_twin=len(with_twin), accepted=sum(r['accepted'] for r in with_twin),
                    backbone_groups=len(results),
                    group_seconds=round(sum(v['seconds'] for v in results.values()), 1)),
        families=families,
        other_backbones=dict(others.most_common()),
    )


def print_summary(summary: dict, console=None) -> None:
    """Print the totals and the family tables with rich."""
    from rich.console import Console
    from rich.table import Table
    console = console or Console()
    for family, fam in summary['families'].items():
        table = Table(title=f'{family} family: {fam["accepted"]} of {fam["configs"]} configs '
                            f'accepted')
        for col in ('host backbone', 'twin', 'configs', 'accepted'):
            table.add_column(col, justify='right' if col in ('configs', 'accepted') else 'left')
        for row in fam['rows']:
            table.add_row(row['host'], row['twin'], str(row['configs']), str(row['accepted']))
        console.print(table)
        for item in fam['not_accepted']:
            console.print(f'  not accepted: {item["config"]}: {item["reason"]}')
    t = summary['totals']
    console.print(f'{t["config_files"]} config files, {t["with_model"]} with a model, '
                  f'{t["with_twin"]} with a backbone that has a twin, '
                  f'[bold]{t["accepted"]} accepted[/bold] ({t["backbone_groups"]} distinct '
                  f'backbones checked in {t["group_seconds"]} s)')
    others = ', '.join(f'{k} {v}' for k, v in summary['other_backbones'].items())
    console.print(f'backbones without a twin (left as they are): {others}')


def markdown(summary: dict) -> str:
    """The family tables as Markdown (for docs/zoo.md)."""
    lines = ['| family | host backbone | twin | configs | accepted |', '|---|---|---|---|---|']
    for family, fam in summary['families'].items():
        for row in fam['rows']:
            lines.append(f'| {family} | `{row["host"]}` | `{row["twin"]}` | {row["configs"]} '
                         f'| {row["accepted"]} |')
        lines.append(f'| **{family}** | | | **{fam["configs"]}** | **{fam["accepted"]}** |')
    t = summary['totals']
    lines.append(f'| **all** | | | **{t["with_twin"]}** | **{t["accepted"]}** |')
    refused = [i for fam in summary['families'].values() for i in fam['not_accepted']]
    if refused:
        lines += ['', 'Not accepted:', '']
        lines += [f'- `{i["config"]}`: {i["reason"]}' for i in refused]
    return '\n'.join(lines) + '\n'
