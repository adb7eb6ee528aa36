//! A small XML writer that reproduces the service's layout byte for byte: the UTF-8 declaration,
//! 2-space indentation (or none, for liststream), `xml:space="preserve"` on name/path elements and
//! self-closing empty elements where the service writes them.

/// Escape text for element content and attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

pub struct XmlWriter {
    buf: String,
    depth: usize,
    pretty: bool,
}

impl XmlWriter {
    /// A document with the declaration; `pretty` selects the 2-space layout.
    pub fn document(pretty: bool) -> Self {
        let mut buf = String::with_capacity(4096);
        buf.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        if pretty {
            buf.push('\n');
        }
        XmlWriter { buf, depth: 0, pretty }
    }

    fn indent(&mut self) {
        if self.pretty {
            for _ in 0..self.depth {
                self.buf.push_str("  ");
            }
        }
    }

    fn newline(&mut self) {
        if self.pretty {
            self.buf.push('\n');
        }
    }

    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.buf.push('<');
        self.buf.push_str(tag);
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            self.buf.push_str(&escape(v));
            self.buf.push('"');
        }
    }

    /// `<tag a="v">` followed by nested content.
    pub fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.buf.push('>');
        self.newline();
        self.depth += 1;
    }

    pub fn close(&mut self, tag: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self.newline();
    }

    /// `<tag a="v"/>`.
    pub fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.buf.push_str("/>");
        self.newline();
    }

    /// `<tag>text</tag>`; an empty text gives `<tag></tag>` like the service's empty times.
    pub fn leaf(&mut self, tag: &str, text: &str) {
        self.text_element(tag, &[], text);
    }

    /// A name/path element, which the service marks `xml:space="preserve"`.
    pub fn preserve(&mut self, tag: &str, text: &str) {
        self.text_element(tag, &[("xml:space", "preserve")], text);
    }

    fn text_element(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(tag, attrs);
        self.buf.push('>');
        self.buf.push_str(&escape(text));
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self.newline();
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_service() {
        let mut w = XmlWriter::document(true);
        w.open("folder", &[("name", "a&b"), ("time", "t")]);
        w.preserve("path", "/u/Jotta");
        w.leaf("modified", "");
        w.empty("metadata", &[("first", ""), ("total", "0")]);
        w.close("folder");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<folder name=\"a&amp;b\" time=\"t\">\n  \
             <path xml:space=\"preserve\">/u/Jotta</path>\n  <modified></modified>\n  \
             <metadata first=\"\" total=\"0\"/>\n</folder>\n"
        );
    }
}
