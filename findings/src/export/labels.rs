//! The words of the md and html reports, in English and Korean.

use super::Lang;
use crate::model::{Baseline, Severity, State};

/// Headings and labels of a report in one language.
pub(crate) struct Labels {
    pub(crate) lang: &'static str,
    pub(crate) title: &'static str,
    pub(crate) engagement: &'static str,
    pub(crate) agency: &'static str,
    pub(crate) window: &'static str,
    pub(crate) generated: &'static str,
    pub(crate) tool: &'static str,
    pub(crate) filters: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) total: &'static str,
    pub(crate) by_priority: &'static str,
    pub(crate) by_severity: &'static str,
    pub(crate) by_host: &'static str,
    pub(crate) by_kisa: &'static str,
    pub(crate) kisa_none: &'static str,
    pub(crate) findings: &'static str,
    pub(crate) no_findings: &'static str,
    pub(crate) priority: &'static str,
    pub(crate) severity: &'static str,
    pub(crate) confidence: &'static str,
    pub(crate) state: &'static str,
    pub(crate) check: &'static str,
    pub(crate) host: &'static str,
    pub(crate) location: &'static str,
    pub(crate) count: &'static str,
    pub(crate) item: &'static str,
    pub(crate) score: &'static str,
    pub(crate) evidence: &'static str,
    pub(crate) remediation: &'static str,
    pub(crate) references: &'static str,
    pub(crate) classification: &'static str,
    pub(crate) sla_due: &'static str,
    pub(crate) overdue: &'static str,
    pub(crate) accepted_until: &'static str,
    pub(crate) assignee: &'static str,
    pub(crate) first_seen: &'static str,
    pub(crate) last_seen: &'static str,
    pub(crate) seen_times: &'static str,
    pub(crate) change: &'static str,
    pub(crate) tags: &'static str,
    pub(crate) rules: &'static str,
    pub(crate) history: &'static str,
    pub(crate) about: &'static str,
    pub(crate) more_hosts: &'static str,
    severities: [&'static str; 5],
    states: [&'static str; 5],
    baselines: [&'static str; 5],
}

impl Labels {
    pub(crate) fn of(lang: Lang) -> &'static Labels {
        match lang {
            Lang::En => &EN,
            Lang::Ko => &KO,
        }
    }

    /// A severity's name (indexed like [`Severity::ALL`]).
    pub(crate) fn severity(&self, s: Severity) -> &'static str {
        self.severities[super::severity_index(s)]
    }

    /// A state's name.
    pub(crate) fn state(&self, s: State) -> &'static str {
        self.states[super::state_index(s)]
    }

    /// A baseline's name.
    pub(crate) fn baseline(&self, b: Baseline) -> &'static str {
        let i = Baseline::ALL.iter().position(|x| *x == b).unwrap_or(0);
        self.baselines[i]
    }

    /// A KISA item's name in this language.
    pub(crate) fn kisa(&self, k: super::Kisa) -> String {
        match self.lang {
            "ko" => k.to_string(),
            _ => format!("{} {} ({})", k.code(), k.name_en(), k.name_ko()),
        }
    }
}

static EN: Labels = Labels {
    lang: "en",
    title: "Security inspection report",
    engagement: "Engagement",
    agency: "Agency",
    window: "Authorization window",
    generated: "Generated",
    tool: "Tool",
    filters: "Filters",
    summary: "Summary",
    total: "Total",
    by_priority: "By priority",
    by_severity: "By severity",
    by_host: "By host",
    by_kisa: "By KISA web item (2021 guide)",
    kisa_none: "No KISA web item",
    findings: "Findings",
    no_findings: "No findings match the filters.",
    priority: "Priority",
    severity: "Severity",
    confidence: "Confidence",
    state: "State",
    check: "Check",
    host: "Host",
    location: "Location",
    count: "Count",
    item: "Item",
    score: "Score",
    evidence: "Evidence",
    remediation: "Remediation",
    references: "References",
    classification: "Classification",
    sla_due: "SLA due",
    overdue: "overdue",
    accepted_until: "Accepted until",
    assignee: "Assignee",
    first_seen: "First seen",
    last_seen: "Last seen",
    seen_times: "times",
    change: "Change since last scan",
    tags: "Tags",
    rules: "Why this priority (rules)",
    history: "History",
    about: "What this means",
    more_hosts: "more hosts",
    severities: ["Info", "Low", "Medium", "High", "Critical"],
    states: ["Open", "Confirmed", "False positive", "Accepted risk", "Fixed"],
    baselines: ["New", "Unchanged", "Updated", "Absent", "Reopened"],
};

static KO: Labels = Labels {
    lang: "ko",
    title: "보안 점검 보고서",
    engagement: "점검 과제",
    agency: "기관",
    window: "점검 승인 기간",
    generated: "작성 일시",
    tool: "도구",
    filters: "필터",
    summary: "요약",
    total: "합계",
    by_priority: "우선순위별",
    by_severity: "위험도별",
    by_host: "호스트별",
    by_kisa: "KISA 웹 취약점 항목별 (2021 상세가이드)",
    kisa_none: "해당 KISA 웹 항목 없음",
    findings: "발견 사항",
    no_findings: "필터에 해당하는 발견 사항이 없습니다.",
    priority: "우선순위",
    severity: "위험도",
    confidence: "신뢰도",
    state: "상태",
    check: "점검 항목",
    host: "호스트",
    location: "위치",
    count: "건수",
    item: "항목",
    score: "점수",
    evidence: "증거",
    remediation: "조치 방법",
    references: "참고 자료",
    classification: "분류",
    sla_due: "조치 기한",
    overdue: "기한 초과",
    accepted_until: "위험 수용 기한",
    assignee: "담당자",
    first_seen: "최초 발견",
    last_seen: "최근 발견",
    seen_times: "회",
    change: "직전 점검 대비 변화",
    tags: "태그",
    rules: "우선순위 근거 (규칙)",
    history: "이력",
    about: "설명",
    more_hosts: "개 호스트 더 있음",
    severities: ["정보", "낮음", "보통", "높음", "긴급"],
    states: ["미조치", "확인됨", "오탐", "위험 수용", "조치 완료"],
    baselines: ["신규", "변화 없음", "변경됨", "미발견", "재발"],
};
