//! `App`: everything the screen shows, and `update`, the only place it
//! changes. Drawing reads it (`draw::draw`); the runner performs the
//! `Effect`s an update asks for and feeds the results back.

use std::collections::{BTreeSet, HashMap};

use haetae_findings::{AssetRecord, Finding, Priority, ScanRun, Severity, State, Timestamp, Transition};

use crate::action::Action;
use crate::assets::{AssetRow, asset_rows};
use crate::dialog::{Dialog, DialogKind, ExportRequest, Submitted};
use crate::filter::{Filter, cycle};
use crate::live::{Live, Progress};
use crate::row::{Row, table_order};

/// The views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// The findings table and the selected finding.
    #[default]
    Findings,
    /// The running scan and past scans.
    Scans,
    /// Hosts: addresses, ports, certificates, open findings.
    Assets,
}

impl Tab {
    /// Every view, in order.
    pub const ALL: [Tab; 3] = [Tab::Findings, Tab::Scans, Tab::Assets];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Tab::Findings => "Findings",
            Tab::Scans => "Scans",
            Tab::Assets => "Assets",
        }
    }
}

/// What the keyboard is talking to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// The table.
    #[default]
    Normal,
    /// The `/` text filter.
    Search,
    /// A dialog.
    Dialog(Dialog),
    /// The key list.
    Help,
}

/// What an update asks the runner to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Leave.
    Quit,
    /// Apply transitions to findings and report back with `App::triaged`.
    Triage(Vec<(Vec<String>, Transition)>),
    /// Export findings.
    Export(ExportRequest),
    /// Reload these findings (`App::merge`).
    Reload(Vec<String>),
    /// Reload every finding, the assets and the scans.
    ReloadAll,
    /// Reload the assets.
    ReloadAssets,
    /// Reload the list of scans.
    ReloadScans,
}

/// The scan the Scans view follows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanStatus {
    /// Scan id.
    pub id: Option<u64>,
    /// Still running.
    pub running: bool,
    /// Targets it was given.
    pub targets: usize,
    /// Latest counters.
    pub progress: Progress,
    /// Requests per second over the last interval.
    pub rps: f64,
    /// How it ended.
    pub summary: Option<String>,
}

/// The whole state of the app.
#[derive(Debug, Clone)]
pub struct App {
    rows: Vec<Row>,
    pos: HashMap<String, usize>,
    view: Vec<usize>,
    /// Selected position in the filtered table.
    pub cursor: usize,
    /// First table row on screen.
    pub offset: usize,
    /// Table rows that fit on screen (set from the terminal size).
    pub page: usize,
    /// The user moved the selection: from then on it follows its finding
    /// through reloads (before, it stays on the first row).
    pub moved: bool,
    /// Active filters.
    pub filter: Filter,
    /// Marked finding ids.
    pub marks: BTreeSet<String>,
    /// Keyboard mode.
    pub mode: Mode,
    /// Current view.
    pub tab: Tab,
    /// The selected finding, whole (loaded by the runner).
    pub detail: Option<Finding>,
    /// Lines the detail pane is scrolled by.
    pub detail_scroll: u16,
    /// The scan being followed.
    pub scan: ScanStatus,
    /// Past scans, newest last.
    pub scans: Vec<ScanRun>,
    /// One row per host (kept current while the Assets view is shown).
    pub assets: Vec<AssetRow>,
    asset_records: Vec<AssetRecord>,
    /// Selected asset.
    pub asset_cursor: usize,
    /// The latest scan: its new and reopened findings are marked.
    pub latest_scan: Option<u64>,
    /// The last message: (is an error, text).
    pub message: Option<(bool, String)>,
    /// "Now", for ages and due dates (the runner advances it).
    pub now: Timestamp,
    /// Colours on (off under NO_COLOR).
    pub color: bool,
    /// Who triages.
    pub actor: String,
    /// Engagement id, for the title bar.
    pub engagement: String,
    /// Terminal size.
    pub size: (u16, u16),
    /// Where exports go by default (a directory).
    pub export_dir: String,
}

impl App {
    /// An app over `rows` (any order).
    pub fn new(rows: Vec<Row>, now: Timestamp, actor: &str, engagement: &str) -> Self {
        let mut app = App {
            rows: Vec::new(),
            pos: HashMap::new(),
            view: Vec::new(),
            cursor: 0,
            offset: 0,
            page: 20,
            moved: false,
            filter: Filter::default(),
            marks: BTreeSet::new(),
            mode: Mode::Normal,
            tab: Tab::Findings,
            detail: None,
            detail_scroll: 0,
            scan: ScanStatus::default(),
            scans: Vec::new(),
            assets: Vec::new(),
            asset_records: Vec::new(),
            asset_cursor: 0,
            latest_scan: None,
            message: None,
            now,
            color: true,
            actor: actor.to_owned(),
            engagement: engagement.to_owned(),
            size: (80, 24),
            export_dir: ".".to_owned(),
        };
        app.set_rows(rows);
        app
    }

    /// Replace every row, keeping the selection where it was.
    pub fn set_rows(&mut self, mut rows: Vec<Row>) {
        let keep = self.selected_id().map(str::to_owned);
        rows.sort_unstable_by(table_order);
        self.rows = rows;
        self.reindex();
        self.refilter(keep.as_deref());
    }

    fn reindex(&mut self) {
        self.pos = self.rows.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        self.refresh_assets();
    }

    /// Rebuild the asset rows, only while the Assets view shows them: a
    /// running scan reloads findings several times a second, and counting
    /// every row per host each time would be wasted on the other views.
    fn refresh_assets(&mut self) {
        if self.tab == Tab::Assets {
            self.assets = asset_rows(&self.asset_records, &self.rows);
            self.asset_cursor = self.asset_cursor.min(self.assets.len().saturating_sub(1));
        }
    }

    /// Switch to a view.
    fn show(&mut self, tab: Tab) {
        self.tab = tab;
        self.refresh_assets();
    }

    /// Every row, in table order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Rows the table shows, in order.
    pub fn shown(&self) -> impl Iterator<Item = &Row> + '_ {
        self.view.iter().filter_map(|&i| self.rows.get(i))
    }

    /// How many rows the table shows.
    pub fn shown_len(&self) -> usize {
        self.view.len()
    }

    /// The shown row at table position `i`.
    pub fn shown_at(&self, i: usize) -> Option<&Row> {
        self.view.get(i).and_then(|&r| self.rows.get(r))
    }

    /// The selected row.
    pub fn selected(&self) -> Option<&Row> {
        self.shown_at(self.cursor)
    }

    /// The selected finding's id.
    pub fn selected_id(&self) -> Option<&str> {
        self.selected().map(|r| r.id.as_str())
    }

    /// Shown findings by priority.
    pub fn counts(&self) -> [usize; 4] {
        let mut c = [0; 4];
        for r in self.shown() {
            if let Some(n) = Priority::ALL.iter().position(|p| *p == r.priority).and_then(|i| c.get_mut(i)) {
                *n += 1;
            }
        }
        c
    }

    /// Rebuild the table after a filter or the rows changed, keeping `keep`
    /// selected when it is still shown and the user has moved the selection. A scrolled table keeps the selection
    /// on its screen line; a table at its top stays at the top, so findings
    /// that arrive above the selection come into view (the selection follows
    /// its finding down).
    fn refilter(&mut self, keep: Option<&str>) {
        let keep = keep.filter(|_| self.moved);
        let at_top = self.offset == 0;
        let screen_line = self.cursor.saturating_sub(self.offset);
        let words = self.filter.words();
        let (filter, now) = (&self.filter, self.now);
        self.view =
            self.rows.iter().enumerate().filter(|(_, r)| filter.matches(r, &words, now)).map(|(i, _)| i).collect();
        // The view keeps the rows' order, so it is sorted by row index.
        let found = keep.and_then(|id| self.pos.get(id)).and_then(|ri| self.view.binary_search(ri).ok());
        match found {
            Some(c) => {
                self.cursor = c;
                self.offset = if at_top { 0 } else { c.saturating_sub(screen_line) };
            }
            None => self.cursor = self.cursor.min(self.view.len().saturating_sub(1)),
        }
        self.clamp_scroll();
    }

    fn clamp_scroll(&mut self) {
        let page = self.page.max(1);
        let max_offset = self.view.len().saturating_sub(page);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + page {
            self.offset = self.cursor + 1 - page;
        }
        self.offset = self.offset.min(max_offset);
    }

    /// Merge findings that were written (live or after triage); the selection stays put.
    pub fn merge(&mut self, findings: &[Finding]) {
        if findings.is_empty() {
            return;
        }
        let keep = self.selected_id().map(str::to_owned);
        for f in findings {
            let row = Row::of(f);
            match self.pos.get(&f.id) {
                Some(&i) => {
                    if let Some(slot) = self.rows.get_mut(i) {
                        *slot = row;
                    }
                }
                None => self.rows.push(row),
            }
            if self.detail.as_ref().is_some_and(|d| d.id == f.id) {
                self.detail = Some(f.clone());
            }
        }
        self.rows.sort_unstable_by(table_order);
        self.reindex();
        self.refilter(keep.as_deref());
    }

    /// The runner's report of a triage.
    pub fn triaged(&mut self, result: Result<Vec<Finding>, String>) {
        match result {
            Ok(changed) => {
                let n = changed.len();
                let states: BTreeSet<&str> = changed.iter().map(|f| f.state.as_str()).collect();
                let states: Vec<&str> = states.into_iter().collect();
                self.message = Some((false, format!("{n} finding(s) recorded: {}", states.join(", "))));
                self.marks.clear();
                self.merge(&changed);
            }
            Err(e) => self.message = Some((true, e)),
        }
    }

    /// Set the assets the store knows.
    pub fn set_assets(&mut self, records: Vec<AssetRecord>) {
        self.asset_records = records;
        self.refresh_assets();
    }

    /// Set the past scans; the newest one's news are marked.
    pub fn set_scans(&mut self, scans: Vec<ScanRun>) {
        self.latest_scan = scans.last().map(|s| s.id);
        self.scans = scans;
    }

    /// The terminal changed size; `page` is the table rows that now fit.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
        self.page = crate::draw::table_rows(self.size, self.detail_beside()).max(1);
        self.clamp_scroll();
    }

    /// Whether the detail pane sits beside the table (wide terminals) or below it.
    pub fn detail_beside(&self) -> bool {
        self.size.0 >= 180
    }

    /// What marked findings, else the selected one, an action applies to.
    fn targets(&self) -> Vec<(String, State)> {
        if self.marks.is_empty() {
            return self.selected().map(|r| vec![(r.id.clone(), r.state)]).unwrap_or_default();
        }
        self.marks
            .iter()
            .filter_map(|id| self.pos.get(id).and_then(|&i| self.rows.get(i)))
            .map(|r| (r.id.clone(), r.state))
            .collect()
    }

    /// A live update from the scan.
    pub fn live(&mut self, ev: Live) -> Option<Effect> {
        match ev {
            Live::Started { id, targets } => {
                self.scan = ScanStatus { id: Some(id), running: true, targets, ..ScanStatus::default() };
                Some(Effect::ReloadScans)
            }
            Live::Progress(p) => {
                let before = self.scan.progress;
                let dt = p.elapsed_ms.saturating_sub(before.elapsed_ms);
                if dt >= 500 || before.elapsed_ms == 0 {
                    let dt = dt.max(1) as f64 / 1000.0;
                    self.scan.rps = p.requests.saturating_sub(before.requests) as f64 / dt;
                    self.scan.progress = p;
                } else {
                    // Keep the rate's interval; update the counters.
                    let at = self.scan.progress.elapsed_ms;
                    let req = self.scan.progress.requests;
                    self.scan.progress = Progress { elapsed_ms: at, requests: req, ..p };
                    self.scan.progress.findings = p.findings;
                }
                None
            }
            Live::Changed(ids) => Some(Effect::Reload(ids)),
            Live::Assets => Some(Effect::ReloadAssets),
            Live::Reload => Some(Effect::ReloadAll),
            Live::Finished { id, summary } => {
                self.scan.id = Some(id);
                self.scan.running = false;
                self.scan.rps = 0.0;
                self.scan.summary = Some(summary.clone());
                self.message = Some((false, summary));
                Some(Effect::ReloadAll)
            }
        }
    }

    /// Apply an action.
    pub fn update(&mut self, action: Action) -> Option<Effect> {
        match std::mem::take(&mut self.mode) {
            Mode::Search => self.update_search(action),
            Mode::Dialog(d) => self.update_dialog(d, action),
            Mode::Help => match action {
                Action::Quit => Some(Effect::Quit),
                _ => None,
            },
            Mode::Normal => self.update_normal(action),
        }
    }

    fn update_search(&mut self, action: Action) -> Option<Effect> {
        self.mode = Mode::Search;
        let keep = self.selected_id().map(str::to_owned);
        match action {
            Action::Input(c) => self.filter.text.push(c),
            Action::Backspace => {
                self.filter.text.pop();
            }
            Action::Submit => self.mode = Mode::Normal,
            Action::Escape => {
                self.mode = Mode::Normal;
                self.filter.text.clear();
            }
            Action::Up => return self.move_by(-1),
            Action::Down => return self.move_by(1),
            Action::Quit => return Some(Effect::Quit),
            _ => return None,
        }
        self.refilter(keep.as_deref());
        None
    }

    fn update_dialog(&mut self, mut d: Dialog, action: Action) -> Option<Effect> {
        match action {
            Action::Escape => return None,
            Action::Quit => return Some(Effect::Quit),
            Action::Input(c) => d.input(c),
            Action::Backspace => d.backspace(),
            Action::NextField => d.next_field(),
            Action::Submit => match d.submit(&self.actor, self.now) {
                Ok(Submitted::Triage(groups)) => return Some(Effect::Triage(groups)),
                Ok(Submitted::Export(mut request)) => {
                    request.filters = if self.marks.is_empty() {
                        self.filter.describe()
                    } else {
                        vec![format!("marked in the TUI: {} finding(s)", self.marks.len())]
                    };
                    return Some(Effect::Export(request));
                }
                Err(_) => {}
            },
            _ => {}
        }
        self.mode = Mode::Dialog(d);
        None
    }

    fn move_by(&mut self, delta: isize) -> Option<Effect> {
        self.moved = true;
        let last = self.view.len().saturating_sub(1);
        self.cursor = self.cursor.saturating_add_signed(delta).min(last);
        self.detail_scroll = 0;
        self.clamp_scroll();
        None
    }

    fn move_assets(&mut self, delta: isize) {
        let last = self.assets.len().saturating_sub(1);
        self.asset_cursor = self.asset_cursor.saturating_add_signed(delta).min(last);
    }

    fn set_filter(&mut self, change: impl FnOnce(&mut Filter)) -> Option<Effect> {
        let keep = self.selected_id().map(str::to_owned);
        change(&mut self.filter);
        self.refilter(keep.as_deref());
        None
    }

    fn dialog(&mut self, kind: DialogKind) -> Option<Effect> {
        let targets = if kind == DialogKind::Export && self.marks.is_empty() {
            self.shown().map(|r| (r.id.clone(), r.state)).collect()
        } else {
            self.targets()
        };
        if targets.is_empty() {
            self.message = Some((true, "no finding selected".to_owned()));
            return None;
        }
        // The runner adds the format's extension when the name has none.
        let name = if self.engagement.is_empty() { "export" } else { self.engagement.as_str() };
        let file = format!("{}/haetae-{name}", self.export_dir.trim_end_matches('/'));
        self.mode = Mode::Dialog(Dialog::new(kind, targets, &file));
        None
    }

    fn triage_now(&mut self, to: State) -> Option<Effect> {
        let targets = self.targets();
        if targets.is_empty() {
            self.message = Some((true, "no finding selected".to_owned()));
            return None;
        }
        let ids = targets.into_iter().map(|(id, _)| id).collect();
        Some(Effect::Triage(vec![(ids, Transition::new(to, self.actor.clone()))]))
    }

    fn update_normal(&mut self, action: Action) -> Option<Effect> {
        let page = self.page.max(1) as isize;
        let on_assets = self.tab == Tab::Assets;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Escape => {
                // Esc leaves what is open: a message, then a kept text filter.
                if self.message.take().is_none() && !self.filter.text.is_empty() {
                    return self.set_filter(|f| f.text.clear());
                }
            }
            Action::Up if on_assets => self.move_assets(-1),
            Action::Down if on_assets => self.move_assets(1),
            Action::PageUp if on_assets => self.move_assets(-page),
            Action::PageDown if on_assets => self.move_assets(page),
            Action::Home if on_assets => self.asset_cursor = 0,
            Action::End if on_assets => self.move_assets(isize::MAX),
            Action::Open if on_assets => {
                let host = self.assets.get(self.asset_cursor).map(|a| a.host.clone());
                self.tab = Tab::Findings;
                return self.set_filter(|f| f.host = host);
            }
            Action::Up => return self.move_by(-1),
            Action::Down => return self.move_by(1),
            Action::PageUp => return self.move_by(-page),
            Action::PageDown => return self.move_by(page),
            Action::Home => return self.move_by(isize::MIN),
            Action::End => return self.move_by(isize::MAX),
            Action::DetailDown => self.detail_scroll = self.detail_scroll.saturating_add(3),
            Action::DetailUp => self.detail_scroll = self.detail_scroll.saturating_sub(3),
            Action::NextTab => {
                let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                self.show(Tab::ALL.get(i + 1).copied().unwrap_or(Tab::Findings));
            }
            Action::Tab(i) => self.show(Tab::ALL.get(i).copied().unwrap_or(self.tab)),
            Action::Help => self.mode = Mode::Help,
            Action::Search => {
                self.tab = Tab::Findings;
                self.mode = Mode::Search;
            }
            Action::CycleState => return self.set_filter(|f| f.states = f.states.next()),
            Action::CyclePriority => return self.set_filter(|f| f.priority = cycle(f.priority, Priority::ALL)),
            Action::CycleSeverity => {
                let high_first: Vec<Severity> = Severity::ALL.iter().rev().copied().collect();
                return self.set_filter(|f| f.severity = cycle(f.severity, &high_first));
            }
            Action::ToggleHost => {
                let host = self.selected().map(|r| r.host.clone());
                return self.set_filter(|f| f.host = if f.host.is_some() { None } else { host });
            }
            Action::ToggleSuppressed => return self.set_filter(|f| f.suppressed = !f.suppressed),
            Action::ToggleOverdue => return self.set_filter(|f| f.overdue = !f.overdue),
            Action::ClearFilters => return self.set_filter(|f| *f = Filter::default()),
            Action::ToggleMark => {
                if let Some(id) = self.selected_id().map(str::to_owned) {
                    if !self.marks.remove(&id) {
                        self.marks.insert(id);
                    }
                    return self.move_by(1);
                }
            }
            Action::MarkAll => {
                let ids: Vec<String> = self.shown().map(|r| r.id.clone()).collect();
                self.marks.extend(ids);
            }
            Action::ClearMarks => self.marks.clear(),
            Action::Confirm => return self.triage_now(State::Confirmed),
            Action::Fixed => return self.triage_now(State::Fixed),
            Action::Reopen => return self.triage_now(State::Open),
            Action::FalsePositive => return self.dialog(DialogKind::FalsePositive),
            Action::AcceptRisk => return self.dialog(DialogKind::AcceptRisk),
            Action::Assign => return self.dialog(DialogKind::Assign),
            Action::Note => return self.dialog(DialogKind::Note),
            Action::Export => return self.dialog(DialogKind::Export),
            Action::Input(_) | Action::Backspace | Action::NextField | Action::Submit | Action::Open => {}
        }
        None
    }
}
