//! What the keys do: the live view's state machine, without a terminal.
//!
//! | key | effect |
//! |---|---|
//! | `q`, Ctrl-C | quit (the run ends and writes its profile) |
//! | `s` / `S` | next / previous sort key |
//! | `1`–`6` | sort by own, total, own%, total%, name, file |
//! | `t` | cumulative ↔ the last seconds |
//! | `p`, space | pause / resume the display (sampling goes on) |
//! | `/` | edit the filter (Enter applies, Esc cancels) |
//! | Esc | clear the filter |
//! | ↑ ↓ PgUp PgDn Home End | scroll |

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::table::{Filter, SortKey, View};

/// What the caller should do after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed.
    None,
    /// Draw again (the view, scroll or prompt changed).
    Redraw,
    /// End the run.
    Quit,
}

/// The state the keys change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct App {
    pub view: View,
    pub paused: bool,
    /// First row shown.
    pub scroll: usize,
    /// The filter being typed after `/`, when it is.
    pub editing: Option<String>,
}

impl App {
    /// Handles one key; `page` is the number of rows on screen.
    pub fn on_key(&mut self, key: KeyEvent, page: usize) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        if let Some(text) = self.editing.as_mut() {
            match key.code {
                KeyCode::Enter => {
                    self.view.filter = Filter::parse(text);
                    self.editing = None;
                    self.scroll = 0;
                }
                KeyCode::Esc => self.editing = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                // Bounded: a filter is a few words.
                KeyCode::Char(c) if !c.is_control() && text.chars().count() < 80 => text.push(c),
                _ => return Effect::None,
            }
            return Effect::Redraw;
        }
        let page = page.max(1);
        match key.code {
            KeyCode::Char('q') => return Effect::Quit,
            KeyCode::Char('s') => self.sort(self.view.sort.next()),
            KeyCode::Char('S') => self.sort(self.view.sort.prev()),
            KeyCode::Char(c @ '1'..='6') => {
                let i = c as usize - '1' as usize;
                self.sort(SortKey::ALL[i]);
            }
            KeyCode::Char('t') => {
                self.view.recent = !self.view.recent;
                self.scroll = 0;
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Char('/') => self.editing = Some(self.view.filter.text().to_string()),
            KeyCode::Esc if !self.view.filter.is_empty() => {
                self.view.filter = Filter::default();
                self.scroll = 0;
            }
            KeyCode::Down => self.scroll += 1,
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::PageDown => self.scroll += page,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(page),
            KeyCode::Home => self.scroll = 0,
            KeyCode::End => self.scroll = usize::MAX,
            _ => return Effect::None,
        }
        Effect::Redraw
    }

    fn sort(&mut self, key: SortKey) {
        self.view.sort = key;
        self.scroll = 0;
    }

    /// Keeps the scroll within `rows` rows shown `page` at a time.
    pub fn clamp_scroll(&mut self, rows: usize, page: usize) {
        self.scroll = self.scroll.min(rows.saturating_sub(page.max(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn press(app: &mut App, code: KeyCode) -> Effect {
        app.on_key(key(code), 10)
    }

    #[test]
    fn q_and_ctrl_c_quit() {
        let mut app = App::default();
        assert_eq!(press(&mut app, KeyCode::Char('q')), Effect::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(ctrl_c, 10), Effect::Quit);
        // Even while typing a filter.
        app.editing = Some("x".into());
        assert_eq!(app.on_key(ctrl_c, 10), Effect::Quit);
    }

    #[test]
    fn sort_keys_cycle_and_jump() {
        let mut app = App::default();
        assert_eq!(app.view.sort, SortKey::Own);
        assert_eq!(press(&mut app, KeyCode::Char('s')), Effect::Redraw);
        assert_eq!(app.view.sort, SortKey::Total);
        press(&mut app, KeyCode::Char('S'));
        press(&mut app, KeyCode::Char('S'));
        assert_eq!(app.view.sort, SortKey::File);
        for (c, want) in ('1'..='6').zip(SortKey::ALL) {
            app.scroll = 4;
            press(&mut app, KeyCode::Char(c));
            assert_eq!(app.view.sort, want);
            assert_eq!(app.scroll, 0, "a new order starts at the top");
        }
        assert_eq!(press(&mut app, KeyCode::Char('7')), Effect::None);
    }

    #[test]
    fn pause_and_window_toggle() {
        let mut app = App::default();
        press(&mut app, KeyCode::Char('p'));
        assert!(app.paused);
        press(&mut app, KeyCode::Char(' '));
        assert!(!app.paused);
        press(&mut app, KeyCode::Char('t'));
        assert!(app.view.recent);
        press(&mut app, KeyCode::Char('t'));
        assert!(!app.view.recent);
    }

    #[test]
    fn a_filter_is_typed_applied_cancelled_and_cleared() {
        let mut app = App::default();
        press(&mut app, KeyCode::Char('/'));
        assert_eq!(app.editing.as_deref(), Some(""));
        for c in "p:42q".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        // Keys are text while editing: `q` did not quit.
        press(&mut app, KeyCode::Backspace);
        assert_eq!(app.editing.as_deref(), Some("p:42"));
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.editing, None);
        assert_eq!(app.view.filter, Filter::parse("p:42"));
        // `/` again starts from the current filter; Esc cancels the edit.
        press(&mut app, KeyCode::Char('/'));
        press(&mut app, KeyCode::Char('x'));
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.view.filter.text(), "p:42");
        // Esc outside the prompt clears it.
        assert_eq!(press(&mut app, KeyCode::Esc), Effect::Redraw);
        assert!(app.view.filter.is_empty());
        assert_eq!(press(&mut app, KeyCode::Esc), Effect::None);
    }

    #[test]
    fn scrolling_stays_in_the_table() {
        let mut app = App::default();
        press(&mut app, KeyCode::Up);
        assert_eq!(app.scroll, 0);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::PageDown);
        assert_eq!(app.scroll, 11);
        press(&mut app, KeyCode::PageUp);
        assert_eq!(app.scroll, 1);
        press(&mut app, KeyCode::End);
        app.clamp_scroll(25, 10);
        assert_eq!(app.scroll, 15);
        app.clamp_scroll(5, 10);
        assert_eq!(app.scroll, 0);
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Home);
        assert_eq!(app.scroll, 0);
    }
}
