//! Server-derived content types: the service picks `mime` from the file extension and clients cannot
//! set it; `mstyle` is emitted equal to it (the 2017 form).

/// MIME type for a file name, `application/octet-stream` when the extension is unknown.
pub fn for_name(name: &str) -> &'static str {
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => return "application/octet-stream",
    };
    match ext.as_str() {
        "txt" | "md" | "log" | "py" | "rs" | "c" | "h" | "sh" | "csv" => "text/plain",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}
