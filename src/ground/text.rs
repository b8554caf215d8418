//! Text as pyswap shows it: sizes and counts for people, aligned tables, and text from outside
//! made safe for a terminal.

use std::fmt::Write as _;

/// `1.2 MiB`, `512 B`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A line of talk as it may reach a terminal: credentials masked, control characters escaped,
/// line breaks too. A message is one line; a value inside it (a path, a catalogue field, a
/// command line) cannot start another (`app\nerror: ...` shows as `app\u{a}error: ...`): only
/// pyswap's own structure, one message per call, chooses the lines.
pub fn printable_line(msg: &str) -> String {
    printable(&crate::ground::secret::redact_text(msg)).into_owned()
}

/// Lines of data as they may reach a terminal (a table pyswap laid out): credentials masked,
/// control characters escaped, the line breaks between lines kept. A value inside a line is
/// escaped where the table is built (`printable`).
pub(crate) fn printable_lines(text: &str) -> String {
    crate::ground::secret::redact_text(text)
        .split('\n')
        .map(|l| printable(l).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with control characters (ESC, CR, ...) escaped as `\u{..}`, so text from outside
/// (a process's command line, a catalogue) cannot drive the terminal.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if text.chars().any(unsafe_char) {
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// `text` in POSIX single quotes: everything literal, a `'` closed, escaped and reopened.
pub(crate) fn posix_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A command line's words as a shell would read them back: a word with nothing a shell treats
/// specially stays bare, any other is single-quoted (`python3 -c 'import sys'`).
pub(crate) fn shell_words<S: AsRef<str>>(words: &[S]) -> String {
    let bare = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_alphanumeric() || "_-./=:,+@%".contains(c))
    };
    words
        .iter()
        .map(|w| {
            let w = w.as_ref();
            if bare(w) {
                w.to_owned()
            } else {
                posix_quoted(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `one` or `many`, as `n` asks: `plural(n, "process", "processes")`.
pub(crate) fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// `1 entry`, `3 entries`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `items` as a list for a sentence: `1, 2, 3`.
pub(crate) fn comma_list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column of a [`Table`]: its title, alignment, least width and what separates it from the
/// column before.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    title: &'static str,
    right: bool,
    min: usize,
    gap: &'static str,
    fit: Fit,
}

/// What a column gives up when a table is wider than the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// Nothing: it keeps every character (numbers, versions: what types back).
    Keep,
    /// The middle of long cells, down to [`SHRUNK`] characters (paths and command lines, whose
    /// start and end say the most).
    Elide,
    /// The whole column, when eliding the others was not enough (the least needed first: the
    /// rightmost droppable column goes first).
    Drop,
}

/// The least width an [`Fit::Elide`] column is shrunk to.
const SHRUNK: usize = 16;

impl Column {
    /// A left-aligned column, two spaces after the one before.
    #[must_use]
    pub(crate) fn left(title: &'static str) -> Self {
        Self {
            title,
            right: false,
            min: 0,
            gap: "  ",
            fit: Fit::Keep,
        }
    }

    /// A right-aligned column (numbers), two spaces after the one before.
    #[must_use]
    pub(crate) fn right(title: &'static str) -> Self {
        Self {
            right: true,
            ..Self::left(title)
        }
    }

    /// At least `min` characters wide, so that a listing keeps its shape from one run to the next.
    #[must_use]
    pub(crate) fn min(self, min: usize) -> Self {
        Self { min, ..self }
    }

    /// Separated from the column before by `gap` instead of two spaces.
    #[must_use]
    pub(crate) fn gap(self, gap: &'static str) -> Self {
        Self { gap, ..self }
    }

    /// Long cells lose their middle (`/srv/app/…/venv`) when the table is too wide.
    #[must_use]
    pub(crate) fn elide(self) -> Self {
        Self {
            fit: Fit::Elide,
            ..self
        }
    }

    /// Left out when the table is too wide even with elided cells.
    #[must_use]
    pub(crate) fn droppable(self) -> Self {
        Self {
            fit: Fit::Drop,
            ..self
        }
    }
}

/// The width human listings must fit: the terminal's, when stdout is one, else `COLUMNS` when
/// set (so `COLUMNS=80 pyswap ps | less` fits too), else none (a pipe gets whole lines, for
/// `grep`; `--json` is the form for programs).
pub(crate) fn terminal_width() -> Option<usize> {
    let stdout = std::io::stdout();
    if std::io::IsTerminal::is_terminal(&stdout)
        && let Ok(size) = rustix::termios::tcgetwinsize(&stdout)
        && size.ws_col > 0
    {
        return Some(usize::from(size.ws_col));
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c > 0)
}

/// `text` in at most `width` characters, its middle replaced by `…` when it is longer.
pub(crate) fn elide_middle(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_owned();
    }
    if width < 2 {
        return "…".chars().take(width).collect();
    }
    let keep = width - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(n - tail));
    out
}

/// The one printer of pyswap's aligned listings (`generations`, `list`, `ps`, `minors`, `venv
/// list`): each column as wide as its widest cell (in characters) or its least width, the last
/// one unpadded (no line ends in spaces), a line of titles first unless the table is headless, and free lines (notes
/// under a row) kept where they were added.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<Column>,
    header: bool,
    lines: Vec<Line>,
}

#[derive(Debug)]
enum Line {
    Cells(Vec<String>),
    Note(String),
}

impl Table {
    pub(crate) fn new(columns: impl IntoIterator<Item = Column>) -> Self {
        Self {
            columns: columns.into_iter().collect(),
            header: true,
            lines: Vec::new(),
        }
    }

    /// A table without a line of titles.
    pub(crate) fn headless(columns: impl IntoIterator<Item = Column>) -> Self {
        Self {
            header: false,
            ..Self::new(columns)
        }
    }

    /// Adds a row; missing cells are empty, extra ones dropped.
    pub(crate) fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.columns.len(), String::new());
        self.lines.push(Line::Cells(cells));
    }

    /// Adds a line that is not aligned (and not measured), under the row before.
    pub(crate) fn note(&mut self, line: impl Into<String>) {
        self.lines.push(Line::Note(line.into()));
    }

    /// The table, fitted to [`terminal_width`].
    pub(crate) fn render(&self) -> String {
        self.render_in(terminal_width())
    }

    /// The table in at most `width` characters a line where its columns allow (notes are not
    /// fitted): elidable columns lose the middle of their long cells first, then droppable
    /// columns go, rightmost first. Without a width every cell is whole.
    pub(crate) fn render_in(&self, width: Option<usize>) -> String {
        let titles: Vec<String> = self.columns.iter().map(|c| c.title.to_owned()).collect();
        let rows = || {
            self.lines.iter().filter_map(|l| match l {
                Line::Cells(cells) => Some(cells),
                Line::Note(_) => None,
            })
        };
        let mut widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                rows()
                    .chain(self.header.then_some(&titles))
                    .map(|cells| cells[i].chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(self.columns[i].min)
            })
            .collect();
        let shown = self.fit(&mut widths, width);
        let aligned = |cells: &[String]| {
            let mut line = String::new();
            let last_shown = shown.iter().rposition(|&s| s).unwrap_or(0);
            let mut first = true;
            for (i, (cell, c)) in cells.iter().zip(&self.columns).enumerate() {
                if !shown[i] {
                    continue;
                }
                if !first {
                    line.push_str(c.gap);
                }
                first = false;
                let w = widths[i];
                let cell = elide_middle(cell, w);
                let _ = match (c.right, i == last_shown) {
                    (true, _) => write!(line, "{cell:>w$}"),
                    (false, false) => write!(line, "{cell:<w$}"),
                    (false, true) => write!(line, "{cell}"),
                };
            }
            line.truncate(line.trim_end().len());
            line
        };
        let mut out = String::new();
        if self.header {
            out.push_str(&aligned(&titles));
            out.push('\n');
        }
        for l in &self.lines {
            match l {
                Line::Cells(cells) => out.push_str(&aligned(cells)),
                Line::Note(note) => out.push_str(note),
            }
            out.push('\n');
        }
        out
    }
}

impl Table {
    /// Narrows `widths` to fit `width` as [`Table::render_in`] says; which columns are shown.
    /// Each droppable column that goes (rightmost first) gives the elided ones their room back.
    fn fit(&self, widths: &mut [usize], width: Option<usize>) -> Vec<bool> {
        let mut shown = vec![true; widths.len()];
        let Some(width) = width else {
            return shown;
        };
        let whole = widths.to_vec();
        let mut droppable = (0..widths.len())
            .rev()
            .filter(|&i| self.columns[i].fit == Fit::Drop);
        loop {
            widths.copy_from_slice(&whole);
            if self.shrink(widths, &shown, width) {
                return shown;
            }
            match droppable.next() {
                Some(i) => shown[i] = false,
                None => return shown,
            }
        }
    }

    /// Takes what the shown columns exceed `width` by from the widest elidable ones, none below
    /// [`SHRUNK`] (or its least width); whether that fits.
    fn shrink(&self, widths: &mut [usize], shown: &[bool], width: usize) -> bool {
        let mut total = 0;
        for (i, c) in self.columns.iter().enumerate().filter(|(i, _)| shown[*i]) {
            let gap = if total == 0 { 0 } else { c.gap.chars().count() };
            total += widths[i] + gap;
        }
        let mut over = total.saturating_sub(width);
        while over > 0 {
            let Some(i) = (0..widths.len())
                .filter(|&i| shown[i] && self.columns[i].fit == Fit::Elide)
                .filter(|&i| widths[i] > SHRUNK.max(self.columns[i].min))
                .max_by_key(|&i| widths[i])
            else {
                return false;
            };
            widths[i] -= 1;
            over -= 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_control_characters() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(super::printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(super::count(1, "entry", "entries"), "1 entry");
        assert_eq!(
            super::shell_words(&["python3", "-c", "import sys; print(1)", "it's", "a=b"]),
            r"python3 -c 'import sys; print(1)' 'it'\''s' a=b"
        );
        assert_eq!(super::count(0, "entry", "entries"), "0 entries");
    }

    #[test]
    fn a_table_aligns_to_its_widest_cell_and_leaves_the_last_column_unpadded() {
        use super::{Column, Table};
        let mut t = Table::new([
            Column::right("N"),
            Column::left("NAME").min(6),
            Column::left("PATH").gap(" "),
        ]);
        t.row(["1", "ab", "/x"]);
        t.row(["12", "a…longer", "/y"]);
        t.note("   a note");
        t.row(["3"]);
        assert_eq!(
            t.render_in(None),
            " N  NAME     PATH\n 1  ab       /x\n12  a…longer /y\n   a note\n 3\n"
        );
        let mut h = Table::headless([Column::left("A"), Column::left("B")]);
        h.row(["x", "y"]);
        assert_eq!(h.render_in(None), "x  y\n");
    }

    #[test]
    fn a_table_fits_a_width_by_eliding_then_dropping() {
        use super::{Column, Table};
        let table = || {
            let mut t = Table::new([
                Column::right("PID"),
                Column::left("UNIT").droppable(),
                Column::left("VERSION"),
                Column::left("COMMAND").elide(),
            ]);
            t.row([
                "4242",
                "web.service",
                "3.11.7+20260201",
                "/srv/app/venv/bin/python3 -m gunicorn app:wsgi --workers 4",
            ]);
            t
        };
        let whole = table().render_in(None);
        assert_eq!(table().render_in(Some(200)), whole);
        let lines = |s: String| s.lines().map(|l| l.chars().count()).max().unwrap();
        // 80 columns: the command loses its middle, everything else stays.
        let at80 = table().render_in(Some(80));
        assert!(lines(whole) > 80 && lines(at80.clone()) <= 80, "{at80}");
        assert!(
            at80.contains("web.service")
                && at80.contains("/srv/app/venv/bin/pyth… app:wsgi --workers 4"),
            "{at80}"
        );
        // 50: eliding to its least width is not enough, so the unit column goes.
        let at50 = table().render_in(Some(50));
        assert!(
            lines(at50.clone()) <= 50 && !at50.contains("UNIT"),
            "{at50}"
        );
        assert!(at50.contains("3.11.7+20260201"), "{at50}");
        assert_eq!(super::elide_middle("abcdefghij", 5), "ab…ij");
        assert_eq!(super::elide_middle("abc", 5), "abc");
    }
}
