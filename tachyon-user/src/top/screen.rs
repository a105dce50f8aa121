//! Drawing the live view (ratatui): the run's counters on top, the table
//! of functions, the keys at the bottom.
//!
//! ```text
//! tachyon-bpf top: 12.0 s, cpu mode at 1000 Hz
//! samples 11987 (1001/s), lost 0, processes 1, threads 1, ticks without thread state 0, unsymbolized 0
//! view cumulative, sort own, filter -, 14 functions
//!    [OWN]   OWN%    TOTAL  TOTAL%  FUNCTION                  FILE:LINE
//!     7190   60.0     7190    60.0  hot                       /app/cpu_split.py:9
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::app::App;
use super::table::{Header, SortKey, Table as Rows};

/// Lines above the table, and below it.
const HEADER_LINES: u16 = 3;
const FOOTER_LINES: u16 = 1;

/// What the screen says about the run that does not change.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `cpu mode at 1000 Hz`.
    pub what: String,
    /// Seconds the recent view covers.
    pub window_secs: usize,
}

/// Rows of the table that fit on a screen of `height` lines.
pub fn page(height: u16) -> usize {
    height.saturating_sub(HEADER_LINES + FOOTER_LINES + 1) as usize
}

/// Control characters (a newline in a function name) would break a line.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The three lines of the header.
pub fn header_lines(h: &Header, rows: &Rows, app: &App, ctx: &Context) -> [String; 3] {
    let s = &h.stats;
    let paused = if app.paused { "  [PAUSED]" } else { "" };
    let view = match app.view.recent {
        true => format!("last {} s", ctx.window_secs),
        false => "cumulative".to_string(),
    };
    let filter = match app.view.filter.is_empty() {
        true => "-".to_string(),
        false => clean(app.view.filter.text()),
    };
    [
        format!(
            "tachyon-bpf top: {:.1} s, {}{paused}",
            s.elapsed.as_secs_f64(),
            ctx.what
        ),
        format!(
            "samples {} ({:.0}/s), lost {}, {}, {}, ticks without thread state {}, unsymbolized {}",
            s.samples,
            h.samples_per_s,
            s.lost,
            plural(s.processes, "process", "processes"),
            plural(s.threads, "thread", "threads"),
            s.no_thread_state,
            s.unsymbolized,
        ),
        format!(
            "view {view}, sort {}, filter {filter}, {} ({} samples)",
            app.view.sort.name(),
            plural(rows.rows.len(), "function", "functions"),
            rows.samples,
        ),
    ]
}

/// The footer: the keys, or the filter being typed.
pub fn footer_line(app: &App) -> String {
    match &app.editing {
        Some(text) => format!(
            "filter (p:PID|NAME c:CONTAINER t:TID|NAME, Enter applies, Esc cancels): {}_",
            clean(text)
        ),
        None => "q quit  s/S/1-6 sort  t last 10 s/all  p pause  / filter  Esc clear  arrows PgUp PgDn scroll".to_string(),
    }
}

/// Columns of the numbers and the spaces between all six columns.
const NUMBERS_WIDTH: usize = 9 + 8 + 9 + 8 + 5 * 2;

/// `s`, or its end after `..` when it is wider than `width`: of a path,
/// the file name and line matter most.
fn keep_tail(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 3 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (width - 2)).collect();
    format!("..{tail}")
}

/// A column title, in brackets when the rows are sorted by it.
fn title(name: &str, sorted: bool) -> String {
    match sorted {
        true => format!("[{name}]"),
        false => name.to_string(),
    }
}

/// Draws the whole screen. `app.scroll` must be clamped already.
pub fn draw(frame: &mut Frame, header: &Header, rows: &Rows, app: &App, ctx: &Context) {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(HEADER_LINES),
        Constraint::Min(1),
        Constraint::Length(FOOTER_LINES),
    ])
    .areas(frame.area());
    let lines: Vec<Line> = header_lines(header, rows, app, ctx)
        .into_iter()
        .map(Line::from)
        .collect();
    frame.render_widget(Paragraph::new(lines), top);
    draw_table(frame, middle, rows, app);
    frame.render_widget(
        Paragraph::new(footer_line(app)).style(Style::default().add_modifier(Modifier::REVERSED)),
        bottom,
    );
}

fn draw_table(frame: &mut Frame, area: Rect, rows: &Rows, app: &App) {
    let sort = app.view.sort;
    let head = Row::new([
        Cell::from(format!("{:>9}", title("OWN", sort == SortKey::Own))),
        Cell::from(format!("{:>8}", title("OWN%", sort == SortKey::OwnPct))),
        Cell::from(format!("{:>9}", title("TOTAL", sort == SortKey::Total))),
        Cell::from(format!("{:>8}", title("TOTAL%", sort == SortKey::TotalPct))),
        Cell::from(title("FUNCTION", sort == SortKey::Name)),
        Cell::from(title("FILE:LINE", sort == SortKey::File)),
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let shown = area.height.saturating_sub(1) as usize;
    // The two text columns share what the numbers leave.
    let text_width = (area.width as usize).saturating_sub(NUMBERS_WIDTH) / 2;
    let body = rows.rows.iter().skip(app.scroll).take(shown).map(|r| {
        let f = &r.function;
        let place = match (f.file.is_empty(), f.first_line) {
            (true, _) => String::new(),
            (false, 0) => clean(&f.file),
            (false, line) => format!("{}:{line}", clean(&f.file)),
        };
        let place = keep_tail(&place, text_width);
        Row::new([
            Cell::from(format!("{:>9}", r.own)),
            Cell::from(format!("{:>8.1}", rows.percent(r.own))),
            Cell::from(format!("{:>9}", r.total)),
            Cell::from(format!("{:>8.1}", rows.percent(r.total))),
            Cell::from(clean(&f.name)),
            Cell::from(place),
        ])
    });
    let widths = [
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ];
    let table = Table::new(body, widths).header(head).column_spacing(2);
    frame.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::LiveStats;
    use crate::top::table::{Function, Row as TableRow};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use std::time::Duration;

    fn rows() -> Rows {
        let row = |name: &str, own, total| TableRow {
            function: Function {
                name: name.into(),
                file: "/app/work.py".into(),
                first_line: 3,
            },
            own,
            total,
        };
        Rows {
            rows: vec![
                row("hot", 60, 60),
                row("warm\nline", 30, 30),
                row("main", 0, 100),
            ],
            samples: 100,
        }
    }

    fn screen(app: &App, height: u16) -> Vec<String> {
        let mut term = Terminal::new(TestBackend::new(120, height)).expect("test backend");
        let header = Header {
            stats: LiveStats {
                elapsed: Duration::from_millis(12_040),
                samples: 1200,
                lost: 2,
                processes: 1,
                threads: 3,
                no_thread_state: 4,
                unsymbolized: 5,
            },
            samples_per_s: 100.4,
        };
        let ctx = Context {
            what: "cpu mode at 100 Hz".into(),
            window_secs: 10,
        };
        term.draw(|f| draw(f, &header, &rows(), app, &ctx))
            .expect("draw");
        let buf = term.backend().buffer().clone();
        (0..height)
            .map(|y| {
                (0..120)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn the_screen_shows_the_counters_the_rows_and_the_keys() {
        let app = App::default();
        let s = screen(&app, 10);
        assert_eq!(s[0], "tachyon-bpf top: 12.0 s, cpu mode at 100 Hz");
        assert_eq!(
            s[1],
            "samples 1200 (100/s), lost 2, 1 process, 3 threads, ticks without thread state 4, unsymbolized 5"
        );
        assert_eq!(
            s[2],
            "view cumulative, sort own, filter -, 3 functions (100 samples)"
        );
        assert!(
            s[3].contains("[OWN]") && s[3].contains("FUNCTION"),
            "{}",
            s[3]
        );
        assert!(s[4].contains("60.0") && s[4].contains("hot") && s[4].contains("/app/work.py:3"));
        assert!(s[5].contains("warm line"), "control characters are cleaned");
        assert!(s[6].contains("main"));
        assert!(s[9].starts_with("q quit"));
    }

    #[test]
    fn long_paths_keep_their_end() {
        assert_eq!(keep_tail("/a/b/work.py:3", 20), "/a/b/work.py:3");
        assert_eq!(keep_tail("/a/b/work.py:3", 10), "..ork.py:3");
        assert_eq!(keep_tail("/a/b/work.py:3", 2), "/a/b/work.py:3");
    }

    #[test]
    fn scroll_pause_window_and_the_filter_prompt_show() {
        let mut app = App {
            scroll: 1,
            paused: true,
            editing: Some("p:4".into()),
            ..Default::default()
        };
        app.view.recent = true;
        let s = screen(&app, 10);
        assert!(s[0].ends_with("[PAUSED]"));
        assert!(s[2].starts_with("view last 10 s"));
        assert!(s[4].contains("warm"), "the first row is scrolled away");
        assert!(s[9].ends_with(": p:4_"), "{}", s[9]);
        assert_eq!(page(10), 5);
        assert_eq!(page(3), 0);
    }
}
