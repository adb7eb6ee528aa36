//! The small element tree the JFS documents other than liststream are read into: every element of a
//! document in one vector (in document order, linked to its first child and next sibling), its name, text
//! and attributes borrowed from the reply's bytes wherever no entity had to be replaced.
//!
//! Why not a tree of owned nodes: a folder listing of 1,000 files has some 12,000 elements, and owning
//! each one's name, text and child list cost over 50 allocations per file, which a walk of a large
//! account spent most of its time allocating and freeing (a profile of a cold `find` over a million
//! entries). Borrowed, a document costs a handful of allocations, however many elements it has.

use super::{next_event, protocol, quoted, snippet};
use crate::remote::error::RemoteResult;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;

/// No element: the end of a child or sibling chain.
const NONE: u32 = u32::MAX;

struct Node<'a> {
    name: Cow<'a, str>,
    /// Its attributes: `attrs[first_attr..first_attr + attr_count]` of the document.
    first_attr: u32,
    attr_count: u32,
    /// Its own text, concatenated (names keep their spaces: `xml:space="preserve"`).
    text: Cow<'a, str>,
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
}

/// A parsed document; `root()` is its one top-level element.
pub(crate) struct Document<'a> {
    nodes: Vec<Node<'a>>,
    attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// One element of a document.
#[derive(Clone, Copy)]
pub(crate) struct Element<'d> {
    doc: &'d Document<'d>,
    at: u32,
}

impl<'a> Document<'a> {
    pub fn root(&self) -> Element<'_> {
        Element { doc: self, at: 0 }
    }
}

impl<'d> Element<'d> {
    fn node(&self) -> &'d Node<'d> {
        &self.doc.nodes[self.at as usize]
    }

    /// The element's local name (without a namespace prefix).
    pub fn tag(&self) -> &'d str {
        &self.node().name
    }

    pub fn attr(&self, name: &str) -> Option<&'d str> {
        let n = self.node();
        let from = n.first_attr as usize;
        self.doc.attrs[from..from + n.attr_count as usize].iter().find(|(k, _)| k == name).map(|(_, v)| &**v)
    }

    /// Its child elements, in document order.
    pub fn children(&self) -> impl Iterator<Item = Element<'d>> + 'd {
        let doc = self.doc;
        let mut at = self.node().first_child;
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let e = Element { doc, at };
            at = doc.nodes[at as usize].next_sibling;
            Some(e)
        })
    }

    pub fn child(&self, name: &str) -> Option<Element<'d>> {
        self.children().find(|c| c.tag() == name)
    }

    pub fn children_named<'n>(&self, name: &'n str) -> impl Iterator<Item = Element<'d>> + 'n
    where
        'd: 'n,
    {
        self.children().filter(move |c| c.tag() == name)
    }

    /// Its own text, exactly as sent.
    pub fn own_text(&self) -> &'d str {
        &self.node().text
    }

    /// Text of a child element, exactly as sent.
    pub fn text(&self, name: &str) -> Option<&'d str> {
        self.child(name).map(|c| c.own_text())
    }
}

/// `part` as a slice of `whole` when it lies inside it (the reader hands out slices of the reply), else
/// an owned copy.
fn within<'a>(whole: &'a str, part: &[u8]) -> Cow<'a, str> {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    match whole.get(start..start.wrapping_add(part.len())) {
        Some(s) if s.as_ptr() == part.as_ptr() => Cow::Borrowed(s),
        _ => Cow::Owned(String::from_utf8_lossy(part).into_owned()),
    }
}

/// Read a whole document. `what` names the request for error messages.
pub(crate) fn parse<'a>(body: &'a [u8], what: &str) -> RemoteResult<Document<'a>> {
    let text = std::str::from_utf8(body).map_err(|_| protocol(what, "reply is not UTF-8 text"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut doc = Document { nodes: Vec::new(), attrs: Vec::new() };
    // The elements open at this point, innermost last.
    let mut open: Vec<u32> = Vec::new();
    loop {
        let event = next_event(&mut reader, what)?;
        match event {
            Event::Start(e) => {
                let at = add(&mut doc, &open, text, &e, what)?;
                open.push(at);
            }
            Event::Empty(e) => {
                add(&mut doc, &open, text, &e, what)?;
            }
            Event::End(_) => {
                open.pop().ok_or_else(|| protocol(what, "closing tag without opening tag"))?;
            }
            Event::Text(t) => {
                let s = match t.unescape() {
                    Ok(s) => s,
                    Err(_) => within(text, &t),
                };
                match open.last() {
                    Some(&at) => add_text(&mut doc.nodes[at as usize], s),
                    None if s.trim().is_empty() => {}
                    None => return Err(protocol(what, format!("not an XML document (starts '{}')", snippet(&s)))),
                }
            }
            Event::CData(t) => {
                if let Some(&at) = open.last() {
                    add_text(&mut doc.nodes[at as usize], within(text, &t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(&at) = open.last() {
        return Err(protocol(what, format!("reply cut short inside <{}>", doc.nodes[at as usize].name)));
    }
    if doc.nodes.is_empty() {
        return Err(protocol(what, "empty reply where an XML document was expected"));
    }
    Ok(doc)
}

/// Append an element (with its attributes) under the innermost open one; returns its index.
fn add<'a>(doc: &mut Document<'a>, open: &[u32], text: &'a str, e: &BytesStart<'_>, what: &str) -> RemoteResult<u32> {
    let parent = open.last().copied();
    if parent.is_none() && !doc.nodes.is_empty() {
        return Err(protocol(what, "more than one root element"));
    }
    let at = u32::try_from(doc.nodes.len()).map_err(|_| protocol(what, "too many elements"))?;
    let first_attr = doc.attrs.len();
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| protocol(what, format!("malformed attribute ({})", quoted(&err))))?;
        let key = within(text, a.key.local_name().as_ref());
        let value = match a.unescape_value() {
            Ok(Cow::Borrowed(v)) => within(text, v.as_bytes()),
            Ok(Cow::Owned(v)) => Cow::Owned(v),
            // Unknown entities (rclone accepts HTML ones): keep the raw text rather than fail the listing.
            Err(_) => within(text, &a.value),
        };
        doc.attrs.push((key, value));
    }
    doc.nodes.push(Node {
        name: within(text, e.local_name().as_ref()),
        first_attr: first_attr as u32,
        attr_count: (doc.attrs.len() - first_attr) as u32,
        text: Cow::Borrowed(""),
        first_child: NONE,
        last_child: NONE,
        next_sibling: NONE,
    });
    if let Some(p) = parent {
        let prev = doc.nodes[p as usize].last_child;
        if prev == NONE {
            doc.nodes[p as usize].first_child = at;
        } else {
            doc.nodes[prev as usize].next_sibling = at;
        }
        doc.nodes[p as usize].last_child = at;
    }
    Ok(at)
}

/// Add a piece of text to an element's own text. The indentation between an element's children is
/// nobody's value, and keeping it would make every container's text an allocation of its own: text that
/// is only white space is dropped once the element has a child.
fn add_text<'a>(node: &mut Node<'a>, s: Cow<'a, str>) {
    if node.text.is_empty() {
        node.text = s;
    } else if node.first_child == NONE || !s.trim().is_empty() {
        node.text.to_mut().push_str(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_text_and_attributes_read_as_sent() {
        let body = "<?xml version=\"1.0\"?>\n<j:folder j:name=\"a &amp; b\" plain='x'>\n  <name xml:space=\"preserve\">  two  spaces </name>\n  \
                    <e>x &lt; y</e><c><![CDATA[<raw>]]> and more</c>\n  <empty/>\n  <file n=\"1\"/><file n=\"2\"/>\n</j:folder>";
        let doc = parse(body.as_bytes(), "test").unwrap();
        let root = doc.root();
        assert_eq!(root.tag(), "folder");
        assert_eq!(root.attr("name"), Some("a & b"));
        assert_eq!(root.attr("plain"), Some("x"));
        assert_eq!(root.attr("missing"), None);
        assert_eq!(root.text("name"), Some("  two  spaces "));
        assert_eq!(root.text("e"), Some("x < y"));
        assert_eq!(root.text("c"), Some("<raw> and more"));
        assert_eq!(root.text("empty"), Some(""));
        let files: Vec<_> = root.children_named("file").map(|f| f.attr("n").unwrap()).collect();
        assert_eq!(files, ["1", "2"]);
        assert_eq!(root.children().count(), 6);
        // The indentation between children is not kept as the container's text.
        assert_eq!(root.own_text().trim(), "");
        // Names and unescaped texts are slices of the reply, not copies.
        assert!(matches!(doc.nodes[0].name, Cow::Borrowed(_)));
        assert!(matches!(doc.nodes[1].text, Cow::Borrowed(_)));
    }

    #[test]
    fn broken_documents_are_protocol_errors() {
        for (body, says) in [
            ("<a></a><b/>", "more than one root element"),
            ("<a><b>", "cut short inside <b>"),
            ("", "empty reply"),
            ("hello", "not an XML document"),
            ("<a></b>", "malformed XML"),
            ("<a x=1/>", "malformed attribute"),
        ] {
            let e = parse(body.as_bytes(), "test").err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains(says), "{body:?}: {e}");
        }
        assert!(parse(&[0x3c, 0x61, 0xff, 0x3e], "test").is_err());
    }
}
