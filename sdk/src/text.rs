//! Text output as ceph's own modules print it: borderless tables and numbers that fit
//! a column (`mgr_util.format_bytes` / `format_dimless`).

use std::fmt;

/// How a [`Table`] column lines up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Number columns.
    Right,
}

/// A borderless table as ceph prints one (`ceph osd status`): a header line, then rows,
/// columns separated by two spaces.
#[derive(Clone, Debug)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, every column left-aligned.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            align: vec![Align::Left; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Align these columns (by index) to the right.
    pub fn right(mut self, columns: &[usize]) -> Self {
        for &column in columns {
            if let Some(align) = self.align.get_mut(column) {
                *align = Align::Right;
            }
        }
        self
    }

    /// Add a row; missing cells are empty, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                let cells = self.rows.iter().map(|row| row[c].chars().count());
                cells.fold(self.headers[c].chars().count(), usize::max)
            })
            .collect();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let width = widths[c];
                match self.align[c] {
                    Align::Left => line.push_str(&format!("{cell:<width$}  ")),
                    Align::Right => line.push_str(&format!("{cell:>width$}  ")),
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A byte count in `width` characters with a binary suffix: `1023 `, `9.99G`.
pub fn format_bytes(n: f64, width: usize) -> String {
    format_units(n, width, 1024.0)
}

/// A dimensionless number in `width` characters with a decimal suffix: `12.3k`.
pub fn format_dimless(n: f64, width: usize) -> String {
    format_units(n, width, 1000.0)
}

/// `n` scaled by powers of `factor` until its integer part fits `width - 1` digits,
/// then cut to `width - 1` characters and given the unit letter.
fn format_units(n: f64, width: usize, factor: f64) -> String {
    const UNITS: [char; 7] = [' ', 'k', 'M', 'G', 'T', 'P', 'E'];
    let digits = width.saturating_sub(1).max(1);
    let n = if n.is_finite() { n.max(0.0) } else { 0.0 };
    let mut unit = 0;
    while unit + 1 < UNITS.len()
        && ((n / factor.powi(unit as i32)) as u64).to_string().len() > digits
    {
        unit += 1;
    }
    if unit == 0 {
        return format!("{:>digits$}{}", n as u64, UNITS[0]);
    }
    let mut number: String = format!("{:.6}", n / factor.powi(unit as i32))
        .chars()
        .take(digits)
        .collect();
    if number.ends_with('.') {
        number.pop();
        number.insert(0, ' ');
    }
    format!("{number}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fit_their_column() {
        assert_eq!(format_bytes(0.0, 5), "   0 ");
        assert_eq!(format_bytes(1023.0, 5), "1023 ");
        assert_eq!(format_bytes(1024.0 * 1024.0 * 1024.0 * 9.5, 5), "9728M");
        assert_eq!(format_bytes(1024.0 * 1024.0 * 1024.0 * 12.5, 5), "12.5G");
        assert_eq!(format_bytes(55296.0, 5), "54.0k");
        assert_eq!(format_dimless(123_456.0, 5), " 123k");
        assert_eq!(format_dimless(12_345.0, 5), "12.3k");
    }

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(&["ID", "HOST", "STATE"]).right(&[0]);
        table.row(["0", "node-a", "exists,up"]);
        table.row(["10", "b", "exists"]);
        assert_eq!(
            table.to_string(),
            "ID  HOST    STATE\n 0  node-a  exists,up\n10  b       exists\n"
        );
    }
}
