//! Reads the JSON documents core takes in: a stored snapshot, the DDS's
//! callback body, its SIWE challenge and its sign-in answer.
//!
//! Why not serde_json's deserializer: each derived type monomorphises its own
//! copy of it, and its error messages format floats, which no caller shows.
//! Together that was 36 KB of the npm package's 297 KB of WebAssembly (18 KB
//! gzipped). Writing stays with serde_json (the signed bodies are its exact
//! bytes); reading is this one small reader.
//!
//! It accepts what serde_json with a derived `Deserialize` accepts, and reads
//! the same values (`core/tests/json_reading.rs` checks that against
//! serde_json), with one exception: serde also takes a struct written as an
//! array of its fields in order, which no DDS or store writes; that is refused.
//! Unknown fields are skipped without recursion, whatever their depth.

use std::fmt;

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// Why a document could not be read, as serde_json classes it, and where. It
/// never holds the input's bytes (they may be a secret).
#[derive(Debug)]
pub(crate) struct Error {
    kind: Kind,
    line: usize,
    column: usize,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Not JSON.
    Syntax,
    /// JSON, but a field is missing, repeated or of the wrong type or range.
    Data,
    /// The input ended inside a value.
    Eof,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Syntax => "invalid JSON",
            Kind::Data => "unexpected field type or value",
            Kind::Eof => "truncated JSON",
        };
        write!(f, "{kind} at line {} column {}", self.line, self.column)
    }
}

/// Reads `bytes` as one document with `document`; only whitespace may follow.
pub(crate) fn read<T>(
    bytes: &[u8],
    document: impl FnOnce(&mut Reader<'_>) -> Result<T>,
) -> std::result::Result<T, Error> {
    let mut reader = Reader { bytes, at: 0 };
    let value = document(&mut reader)?;
    match reader.peek() {
        None => Ok(value),
        Some(_) => Err(reader.error(Kind::Syntax)),
    }
}

/// A position in a JSON document, with typed reads of the value there.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// An error at the current position (line and column as serde_json counts them).
    fn error(&self, kind: Kind) -> Error {
        let before = &self.bytes[..self.at.min(self.bytes.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Error {
            kind,
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: before.len() - line_start,
        }
    }

    /// A field is missing, repeated, or has the wrong type or range.
    pub(crate) fn invalid(&self) -> Error {
        self.error(Kind::Data)
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
        self.bytes.get(self.at).copied()
    }

    /// The next byte, consumed; the end of input is an error.
    fn next(&mut self) -> Result<u8> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| self.error(Kind::Eof))?;
        self.at += 1;
        Ok(byte)
    }

    /// Consumes `byte` (after whitespace), or fails as [`Self::unexpected`].
    fn open(&mut self, byte: u8, value_expected: bool) -> Result<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            return Ok(());
        }
        Err(self.unexpected(value_expected))
    }

    /// What is next is not what was wanted: a value of another type (when a
    /// value was expected there), not JSON, or the end.
    fn unexpected(&mut self, value_expected: bool) -> Error {
        match self.peek() {
            None => self.error(Kind::Eof),
            Some(b'n' | b't' | b'f' | b'-' | b'0'..=b'9' | b'"' | b'[' | b'{')
                if value_expected =>
            {
                self.error(Kind::Data)
            }
            Some(_) => self.error(Kind::Syntax),
        }
    }

    /// Reads an object: `field` gets each key and reads its value, returning
    /// `true`, or returns `false` and the value is skipped.
    pub(crate) fn object(
        &mut self,
        field: &mut dyn FnMut(&mut Self, &str) -> Result<bool>,
    ) -> Result<()> {
        self.open(b'{', true)?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.open(b'"', false)?;
            let key = self.string_body()?;
            self.open(b':', false)?;
            if !field(self, &key)? {
                self.skip()?;
            }
            if self.close(b'}')? {
                return Ok(());
            }
        }
    }

    /// After an element: `true` at `end` (consumed), `false` after a comma.
    fn close(&mut self, end: u8) -> Result<bool> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(false)
            }
            Some(b) if b == end => {
                self.at += 1;
                Ok(true)
            }
            Some(_) => Err(self.error(Kind::Syntax)),
            None => Err(self.error(Kind::Eof)),
        }
    }

    /// Reads a field's value into `slot`; a field seen twice is an error.
    pub(crate) fn once<T>(
        &mut self,
        slot: &mut Option<T>,
        read: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<bool> {
        if slot.is_some() {
            return Err(self.invalid());
        }
        *slot = Some(read(self)?);
        Ok(true)
    }

    /// `None` for `null`, else what `read` reads.
    pub(crate) fn nullable<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<Option<T>> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(None);
        }
        read(self).map(Some)
    }

    /// Reads a string (escapes decoded; UTF-8 and surrogate pairs checked).
    pub(crate) fn string(&mut self) -> Result<String> {
        self.open(b'"', true)?;
        self.string_body()
    }

    /// Reads an array of strings.
    pub(crate) fn strings(&mut self) -> Result<Vec<String>> {
        self.open(b'[', true)?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(items);
        }
        loop {
            items.push(self.string()?);
            if self.close(b']')? {
                return Ok(items);
            }
        }
    }

    /// Reads an integer that fits `T` (as serde_json: no fraction, no
    /// exponent, and `-0` is a float).
    pub(crate) fn integer<T: TryFrom<i128>>(&mut self) -> Result<T> {
        if !matches!(self.peek(), Some(b'-' | b'0'..=b'9')) {
            return Err(self.unexpected(true));
        }
        let start = self.at;
        let number = self.number()?;
        let value = match number {
            Number::Integer {
                negative: false,
                magnitude: Some(m),
            } => Some(i128::from(m)),
            Number::Integer {
                negative: true,
                magnitude: Some(m @ 1..),
            } if m <= 1 << 63 => Some(-i128::from(m)),
            _ => None,
        };
        value.and_then(|v| T::try_from(v).ok()).ok_or_else(|| {
            self.at = start;
            self.invalid()
        })
    }

    /// After the opening quote: the string, its closing quote consumed.
    fn string_body(&mut self) -> Result<String> {
        let mut text = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let c = self.escape()?;
                    text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                0x00..=0x1f => return Err(self.error(Kind::Syntax)),
                byte => text.push(byte),
            }
        }
        String::from_utf8(text).map_err(|_| self.error(Kind::Syntax))
    }

    /// After a backslash: the character it stands for.
    fn escape(&mut self) -> Result<char> {
        let c = match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if self.next()? != b'\\' || self.next()? != b'u' {
                            return Err(self.error(Kind::Syntax));
                        }
                        match self.hex4()? {
                            second @ 0xDC00..=0xDFFF => {
                                0x10000 + ((first - 0xD800) << 10 | (second - 0xDC00))
                            }
                            _ => return Err(self.error(Kind::Syntax)),
                        }
                    }
                    code => code,
                };
                // A lone trailing surrogate is no character.
                return char::from_u32(code).ok_or_else(|| self.error(Kind::Syntax));
            }
            _ => return Err(self.error(Kind::Syntax)),
        };
        Ok(c)
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| {
            self.at = self.bytes.len();
            self.error(Kind::Eof)
        })?;
        self.at += 4;
        let mut code = 0;
        for &digit in digits {
            let value = char::from(digit).to_digit(16);
            code = code * 16 + value.ok_or_else(|| self.error(Kind::Syntax))?;
        }
        Ok(code)
    }

    /// `word`, byte for byte.
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        for &expected in word {
            if self.next()? != expected {
                return Err(self.error(Kind::Syntax));
            }
        }
        Ok(())
    }

    /// A number, checked against JSON's grammar.
    fn number(&mut self) -> Result<Number> {
        let negative = self.bytes.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let mut magnitude = Some(0u64);
        match self.next()? {
            b'0' => {
                if self.digit().is_some() {
                    return Err(self.error(Kind::Syntax));
                }
            }
            first @ b'1'..=b'9' => {
                magnitude = Some(u64::from(first - b'0'));
                while let Some(d) = self.digit() {
                    self.at += 1;
                    magnitude = magnitude.and_then(|m| m.checked_mul(10)?.checked_add(d));
                }
            }
            _ => return Err(self.error(Kind::Syntax)),
        }
        let mut float = false;
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.digits()?;
            float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            self.digits()?;
            float = true;
        }
        Ok(match float {
            true => Number::Float,
            false => Number::Integer {
                negative,
                magnitude,
            },
        })
    }

    /// The digit at the current position, not consumed.
    fn digit(&self) -> Option<u64> {
        match self.bytes.get(self.at) {
            Some(&b @ b'0'..=b'9') => Some(u64::from(b - b'0')),
            _ => None,
        }
    }

    /// One digit or more.
    fn digits(&mut self) -> Result<()> {
        if self.digit().is_none() {
            return Err(self.error(Kind::Syntax));
        }
        while self.digit().is_some() {
            self.at += 1;
        }
        Ok(())
    }

    /// Skips one value of any depth, with a stack of open containers rather
    /// than recursion. As serde_json does for fields it ignores, a skipped
    /// string's escapes are checked but its UTF-8 is not.
    fn skip(&mut self) -> Result<()> {
        let mut open = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error(Kind::Eof)),
                Some(b'"') => {
                    self.at += 1;
                    self.skip_string()?;
                }
                Some(container @ (b'{' | b'[')) => {
                    self.at += 1;
                    let end = container + 2; // `}` and `]`
                    if self.peek() == Some(end) {
                        self.at += 1;
                    } else {
                        open.push(end);
                        if end == b'}' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                Some(b'n') => self.literal(b"null")?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(_) => return Err(self.error(Kind::Syntax)),
            }
            // After a value: close what ends here, or go on to the next element.
            loop {
                let Some(&end) = open.last() else {
                    return Ok(());
                };
                if !self.close(end)? {
                    if end == b'}' {
                        self.skip_key()?;
                    }
                    break;
                }
                open.pop();
            }
        }
    }

    /// A key and its colon, inside a skipped object.
    fn skip_key(&mut self) -> Result<()> {
        self.open(b'"', false)?;
        self.skip_string()?;
        self.open(b':', false)
    }

    /// After the opening quote: a string skipped.
    fn skip_string(&mut self) -> Result<()> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        self.hex4()?;
                    }
                    _ => return Err(self.error(Kind::Syntax)),
                },
                0x00..=0x1f => return Err(self.error(Kind::Syntax)),
                _ => {}
            }
        }
    }
}

/// A number as read: an integer (its magnitude `None` past `u64`), or not.
enum Number {
    Integer {
        negative: bool,
        magnitude: Option<u64>,
    },
    Float,
}
