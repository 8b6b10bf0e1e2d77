"""Who the report is from and for: the review firm, the client bureau, the audit period and the
hospitals' names, from a settings file (YAML) and/or command-line options (options win).

    firm: 某某医疗管理咨询有限公司            # 审核机构
    bureau: 某县医疗保障局                    # 委托方
    period: 2024年1月1日至2024年12月31日      # 审核期间 (text, or {from: 2024-01-01, to: 2024-12-31})
    title: 2024年度住院病历医保基金使用专项审核   # optional; default 医保住院病历审核报告
    appeal_days: 10                           # working days the notice gives a hospital to appeal
    hospitals: {H01: 某县人民医院, H02: 某县中医院}

Every error names the file and the key.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

KEYS = {"firm", "bureau", "period", "title", "appeal_days", "hospitals"}
DEFAULT_TITLE = "医保住院病历审核报告"


class SettingsError(ValueError):
    """A report settings file that cannot be used (message names the file and the key)."""


@dataclass(frozen=True)
class ReportSettings:
    firm: str | None = None
    bureau: str | None = None
    period: str | None = None
    title: str = DEFAULT_TITLE
    appeal_days: int = 10
    hospitals: dict[str, str] = field(default_factory=dict)

    def missing(self) -> list[str]:
        """What the bureau's report should name but these settings do not (shown as a warning)."""
        return [label for key, label in (("firm", "审核机构"), ("bureau", "委托方"), ("period", "审核期间"))
                if not getattr(self, key)]

    def with_options(self, **options) -> ReportSettings:
        return replace(self, **{k: v for k, v in options.items() if v})


def _date(v, where: str) -> str:
    if isinstance(v, _dt.date):
        return f"{v.year}年{v.month}月{v.day}日"
    if isinstance(v, str) and v.strip():
        return v.strip()
    raise SettingsError(f"{where}: 应为日期 (YYYY-MM-DD)")


def _period(v, where: str) -> str:
    if isinstance(v, dict):
        unknown = set(v) - {"from", "to"}
        if unknown or "from" not in v or "to" not in v:
            raise SettingsError(f"{where}: 应为文字，或 {{from: 日期, to: 日期}}")
        return f"{_date(v['from'], where + '.from')}至{_date(v['to'], where + '.to')}"
    return _date(v, where)


def load(path: str | Path | None) -> ReportSettings:
    """The settings in ``path`` (None: defaults)."""
    if path is None:
        return ReportSettings()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: 报告设置文件不存在") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: 无法读取报告设置 ({exc.__class__.__name__})") from None
    if data is None:
        return ReportSettings()
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: 顶层应为映射 ({', '.join(sorted(KEYS))})")
    unknown = set(data) - KEYS
    if unknown:
        raise SettingsError(f"{path}: 未知的键 {', '.join(sorted(map(str, unknown)))} (允许: {', '.join(sorted(KEYS))})")
    out = {}
    for key in ("firm", "bureau", "title"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise SettingsError(f"{path}: {key} 应为非空文字")
            out[key] = data[key].strip()
    if "period" in data:
        out["period"] = _period(data["period"], f"{path}: period")
    if "appeal_days" in data:
        d = data["appeal_days"]
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 90:
            raise SettingsError(f"{path}: appeal_days 应为 1–90 的整数")
        out["appeal_days"] = d
    if "hospitals" in data:
        h = data["hospitals"]
        if not isinstance(h, dict) or not all(isinstance(v, str) and v.strip() for v in h.values()):
            raise SettingsError(f"{path}: hospitals 应为 医院编号 → 医院名称 的映射")
        out["hospitals"] = {str(k): v.strip() for k, v in h.items()}
    return ReportSettings(**out)
