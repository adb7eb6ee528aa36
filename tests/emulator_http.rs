//! The emulator over real HTTP: auth and token rotation, uploads (dedupe, resume, corrupt), downloads
//! with ranges, listings, trash, moves, names, quota, faults and persistence across restarts.

use jottafuse::emulator::{self, EmulatorConfig, RunningEmulator};
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

struct Env {
    emu: RunningEmulator,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    base: String,
    token: String,
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

async fn password_grant(http: &reqwest::Client, base: &str, login_token: &str) -> reqwest::Response {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(login_token).expect("unpadded base64url");
    let v: Value = serde_json::from_slice(&raw).expect("login token json");
    // The link names the emulator that minted the token; after a restart on a new port, ask this one.
    let well_known = v["well_known_link"].as_str().expect("well_known_link");
    let path = "/auth/realms/jottacloud/.well-known/openid-configuration";
    assert!(well_known.ends_with(path));
    let disc: Value = http.get(format!("{base}{path}")).send().await.expect("discovery").json().await.expect("json");
    let token_url = disc["token_endpoint"].as_str().expect("token_endpoint").to_string();
    assert!(token_url.starts_with(base));
    http.post(token_url)
        .form(&[
            ("client_id", "jottacli"),
            ("grant_type", "password"),
            ("scope", "openid offline_access"),
            ("username", v["username"].as_str().expect("username")),
            ("password", v["auth_token"].as_str().expect("auth_token")),
        ])
        .send()
        .await
        .expect("token request")
}

async fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut EmulatorConfig)) -> Env {
    let mut cfg = EmulatorConfig { data_dir: dir.path().to_path_buf(), ..Default::default() };
    tweak(&mut cfg);
    let emu = emulator::start(cfg).await.expect("start emulator");
    let http = reqwest::Client::new();
    let base = emu.endpoint();
    let resp = password_grant(&http, &base, &emu.login_token()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tok: Value = resp.json().await.expect("token json");
    let token = tok["access_token"].as_str().expect("access_token").to_string();
    Env { emu, dir, http, base, token }
}

async fn env() -> Env {
    start_in(tempfile::tempdir().expect("tempdir"), |_| {}).await
}

impl Env {
    fn jfs(&self, path: &str) -> String {
        format!("{}/jfs/{}/{}", self.base, self.emu.user(), path.trim_start_matches('/'))
    }

    async fn get(&self, url: &str) -> (StatusCode, String) {
        let r = self.http.get(url).bearer_auth(&self.token).send().await.expect("GET");
        (r.status(), r.text().await.expect("body"))
    }

    async fn post(&self, url: &str) -> (StatusCode, String) {
        let r = self.http.post(url).bearer_auth(&self.token).send().await.expect("POST");
        (r.status(), r.text().await.expect("body"))
    }

    async fn allocate(&self, path: &str, data: &[u8]) -> Value {
        let body = json!({"bytes": data.len(), "md5": md5_hex(data), "path": path,
                          "created": "2024-03-05T10:12:00+01:00", "modified": "2024-03-05T10:12:00+01:00"});
        let r = self
            .http
            .post(format!("{}/files/v1/allocate", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("allocate");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("allocate json")
    }

    /// Allocate + upload the whole file; returns the upload answer's status and JSON.
    async fn upload(&self, path: &str, data: &[u8]) -> (StatusCode, Value) {
        let a = self.allocate(path, data).await;
        if a["state"] == "COMPLETED" {
            return (StatusCode::OK, a);
        }
        let pos = a["resume_pos"].as_u64().expect("resume_pos") as usize;
        let mut req = self
            .http
            .post(a["upload_url"].as_str().expect("upload_url"))
            .bearer_auth(&self.token)
            .body(data[pos..].to_vec());
        if pos > 0 {
            req = req.header("Range", format!("bytes={pos}-{}", data.len() - 1));
        }
        let r = req.send().await.expect("upload");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn download(&self, path: &str, range: Option<&str>) -> (StatusCode, Vec<u8>) {
        let mut req = self.http.get(format!("{}?mode=bin", self.jfs(path))).bearer_auth(&self.token);
        if let Some(r) = range {
            req = req.header("Range", r);
        }
        let r = req.send().await.expect("download");
        (r.status(), r.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
    }

    async fn hook(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}/_emulator/{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("hook");
        assert!(r.status().is_success(), "hook {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }
}

fn attr<'a>(xml: &'a str, element_start: &str, attr: &str) -> Option<&'a str> {
    let at = xml.find(element_start)?;
    let rest = &xml[at..];
    let end = rest.find('>')?;
    let tag = &rest[..end];
    let key = format!(" {attr}=\"");
    let p = tag.find(&key)? + key.len();
    let q = tag[p..].find('"')?;
    Some(&tag[p..p + q])
}

#[tokio::test]
async fn login_refresh_rotation_and_reuse_detection() {
    let env = env().await;
    // Bearer works; missing or bad bearer is 401 with the XML error document on JFS.
    let (s, body) = env.get(&env.jfs("")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("<user time=\"") && body.contains("<capacity>-1</capacity>"));
    let r = env.http.get(env.jfs("")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap_or_default().contains("<code>401</code>"));
    let r = env.http.get(format!("{}/account/v1/customer", env.base)).bearer_auth("nope").send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c: Value = env
        .http
        .get(format!("{}/account/v1/customer", env.base))
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("customer")
        .json()
        .await
        .expect("json");
    assert_eq!(c["username"], "demo");
    assert!(c["usage"].is_i64() && c["quota"] == -1 && c["write_locked"] == false);

    // A login token is single use.
    let lt = env.emu.login_token();
    assert!(!lt.contains('=') && !lt.contains('+') && !lt.contains('/'));
    let first = password_grant(&env.http, &env.base, &lt).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tok: Value = first.json().await.expect("json");
    assert!(tok["expires_in"].as_i64().unwrap_or(0) > 0);
    assert_eq!(tok["refresh_expires_in"], 0);
    assert!(tok["not-before-policy"].is_i64());
    assert_eq!(tok["access_token"].as_str().map(|t| t.split('.').count()), Some(3));
    assert_eq!(password_grant(&env.http, &env.base, &lt).await.status(), StatusCode::UNAUTHORIZED);

    // Refresh with Basic `jottacli:` rotates; presenting the spent token kills the family.
    let token_url = format!("{}/auth/realms/jottacloud/protocol/openid-connect/token", env.base);
    let rt1 = tok["refresh_token"].as_str().expect("rt").to_string();
    let r = env
        .http
        .post(&token_url)
        .basic_auth("jottacli", Some(""))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", rt1.as_str())])
        .send()
        .await
        .expect("refresh");
    assert_eq!(r.status(), StatusCode::OK);
    let tok2: Value = r.json().await.expect("json");
    let rt2 = tok2["refresh_token"].as_str().expect("rt2").to_string();
    let at2 = tok2["access_token"].as_str().expect("at2").to_string();
    assert_ne!(rt1, rt2);
    let customer = format!("{}/account/v1/customer", env.base);
    assert_eq!(env.http.get(&customer).bearer_auth(&at2).send().await.expect("GET").status(), StatusCode::OK);
    let r = env
        .http
        .post(&token_url)
        .form(&[("client_id", "jottacli"), ("grant_type", "refresh_token"), ("refresh_token", rt1.as_str())])
        .send()
        .await
        .expect("reuse");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_description"], "Session doesn't have required client");
    // The whole family is dead: its newest refresh token and access token too.
    let r = env
        .http
        .post(&token_url)
        .form(&[("client_id", "jottacli"), ("grant_type", "refresh_token"), ("refresh_token", rt2.as_str())])
        .send()
        .await
        .expect("refresh");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(env.http.get(&customer).bearer_auth(&at2).send().await.expect("GET").status(), StatusCode::UNAUTHORIZED);
    // Other sessions are unaffected.
    assert_eq!(env.get(&env.jfs("")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn expired_access_token_is_refused_and_refresh_recovers() {
    let env =
        start_in(tempfile::tempdir().expect("tempdir"), |c| c.access_token_lifetime = Duration::from_secs(2)).await;
    let tok: Value = password_grant(&env.http, &env.base, &env.emu.login_token()).await.json().await.expect("json");
    let at = tok["access_token"].as_str().expect("at");
    assert_eq!(tok["expires_in"], 2);
    env.hook(reqwest::Method::POST, "expire-tokens", None).await;
    let r = env.http.get(env.jfs("")).bearer_auth(at).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = env
        .http
        .post(format!("{}/auth/realms/jottacloud/protocol/openid-connect/token", env.base))
        .form(&[
            ("client_id", "jottacli"),
            ("grant_type", "refresh_token"),
            ("refresh_token", tok["refresh_token"].as_str().unwrap_or("")),
        ])
        .send()
        .await
        .expect("refresh");
    let tok2: Value = r.json().await.expect("json");
    let r =
        env.http.get(env.jfs("")).bearer_auth(tok2["access_token"].as_str().unwrap_or("")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn upload_download_ranges_and_dedupe() {
    let env = env().await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (s, up) = env.upload("/jfs/Jotta/Archive/docs/data.bin", &data).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(up["bytes"], data.len());
    assert_eq!(up["md5"], md5_hex(&data));
    assert_eq!(up["modified"], 1_709_629_920_000i64);
    let (s, got) = env.download("Jotta/Archive/docs/data.bin", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got == data);
    let (s, got) = env.download("Jotta/Archive/docs/data.bin", Some("bytes=1000-1999")).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert!(got == data[1000..2000]);
    let (s, got) = env.download("Jotta/Archive/docs/data.bin", Some("bytes=299990-400000")).await;
    assert_eq!(s, StatusCode::PARTIAL_CONTENT);
    assert!(got == data[299_990..]);
    let (s, _) = env.download("Jotta/Archive/docs/data.bin", Some("bytes=300000-")).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);

    // The file document: lowercase md5, JFS times, path elements preserved.
    let (s, doc) = env.get(&env.jfs("Jotta/Archive/docs/data.bin")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc.contains(&format!("<md5>{}</md5>", md5_hex(&data))));
    assert!(doc.contains("<modified>2024-03-05-T09:12:00Z</modified>"));
    assert!(doc.contains("<path xml:space=\"preserve\">/demo/Jotta/Archive/docs</path>"));

    // Same content elsewhere: COMPLETED at allocate, zero bytes received.
    env.hook(reqwest::Method::POST, "counters/reset", None).await;
    let a = env.allocate("Archive/copy/again.bin", &data).await;
    assert_eq!(a["state"], "COMPLETED");
    let c = env.hook(reqwest::Method::GET, "counters", None).await;
    assert_eq!(c["bytes_received"], 0);
    assert_eq!(c["requests"]["allocate"], 1);
    let (s, got) = env.download("Jotta/Archive/copy/again.bin", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got == data);
    let c = env.hook(reqwest::Method::GET, "counters", None).await;
    assert_eq!(c["bytes_sent"], data.len());
    assert_eq!(c["requests"]["download"], 1);
}

#[tokio::test]
async fn listings_show_deleted_children_and_liststream_hides_them() {
    let env = env().await;
    env.upload("/jfs/Jotta/Archive/top/keep.txt", b"keep me").await;
    env.upload("/jfs/Jotta/Archive/top/gone.txt", b"delete me").await;
    env.post(&format!("{}?mkDir=true", env.jfs("Jotta/Archive/top/sub/deeper"))).await;
    env.post(&format!("{}?mkDir=true", env.jfs("Jotta/Archive/top/oldsub"))).await;
    assert_eq!(env.post(&format!("{}?dl=true", env.jfs("Jotta/Archive/top/gone.txt"))).await.0, StatusCode::OK);
    let (s, body) = env.post(&format!("{}?dlDir=true", env.jfs("Jotta/Archive/top/oldsub"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(attr(&body, "<folder ", "deleted").is_some());

    let (s, xml) = env.get(&env.jfs("Jotta/Archive/top")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<folder name=\"top\" time=\""));
    assert!(attr(&xml, "<folder name=\"oldsub\"", "deleted").is_some());
    assert!(attr(&xml, "<file name=\"gone.txt\"", "deleted").is_some());
    assert!(attr(&xml, "<file name=\"keep.txt\"", "deleted").is_none());
    assert!(xml.contains("    <folder name=\"sub\"/>\n"));
    assert!(xml.contains("<abspath xml:space=\"preserve\">/demo/Jotta/Archive/top</abspath>"));
    assert!(xml.contains("<metadata first=\"\" max=\"\" total=\"4\" num_folders=\"2\" num_files=\"2\"/>"));

    let (s, ls) = env.get(&format!("{}?mode=liststream", env.jfs("Jotta/Archive/top"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!ls.contains('\n') || ls.matches('\n').count() == 0);
    assert!(ls.contains("<folder><path>/Archive/top</path></folder>"));
    assert!(ls.contains("<filename>keep.txt</filename>"));
    assert!(!ls.contains("gone.txt") && !ls.contains("oldsub"));
    assert!(ls.contains("<stats><folders>3</folders><files>1</files></stats>"));

    let (_, trash) = env.get(&env.jfs("Jotta/Trash")).await;
    assert!(trash.contains("contextType=\"TRASH\""));
    assert!(trash.contains("gone.txt") && trash.contains("oldsub"));

    let (s, dev) = env.get(&env.jfs("Jotta")).await;
    assert_eq!(s, StatusCode::OK);
    for mp in ["Archive", "Latest", "Shared", "Sync"] {
        assert!(dev.contains(&format!("<name xml:space=\"preserve\">{mp}</name>")));
    }
    assert!(dev.contains("num_mountpoints=\"4\""));
    // A deleted folder is still GET-able, flagged on the root.
    let (s, del) = env.get(&env.jfs("Jotta/Archive/top/oldsub")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(attr(&del, "<folder ", "deleted").is_some());
    let (s, missing) = env.get(&env.jfs("Jotta/Archive/nope")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(missing.contains("<code>404</code>"));
}

#[tokio::test]
async fn mkdir_is_idempotent_and_creates_parents() {
    let env = env().await;
    let url = format!("{}?mkDir=true", env.jfs("Jotta/Archive/a/b/c"));
    let (s, body) = env.post(&url).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("<folder name=\"c\""));
    assert_eq!(env.post(&url).await.0, StatusCode::OK);
    assert_eq!(env.get(&env.jfs("Jotta/Archive/a/b")).await.0, StatusCode::OK);
    let (s, body) = env.post(&format!("{}?mkDir=true", env.jfs("Jotta/Archive"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("<mountPoint "));
    let (_, a) = env.get(&env.jfs("Jotta/Archive/a")).await;
    assert_eq!(a.matches("<folder name=\"b\"/>").count(), 1);
}

#[tokio::test]
async fn trash_restore_permanent_delete_and_purge() {
    let env = env().await;
    let data = b"restore me please";
    env.upload("/jfs/Jotta/Archive/t/file.txt", data).await;
    let (_, doc) = env.get(&env.jfs("Jotta/Archive/t/file.txt")).await;
    let uuid = attr(&doc, "<file ", "uuid").unwrap_or("").to_string();
    let (s, body) = env.post(&format!("{}?dl=true", env.jfs("Jotta/Archive/t/file.txt"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(attr(&body, "<file ", "deleted").is_some());
    assert_eq!(env.post(&format!("{}?dl=true", env.jfs("Jotta/Archive/t/never.txt"))).await.0, StatusCode::OK);

    // cphash with identical content restores from the trash (same uuid).
    let r = env
        .http
        .post(format!("{}?cphash=true", env.jfs("Jotta/Archive/t/file.txt")))
        .bearer_auth(&env.token)
        .header("JSize", data.len().to_string())
        .header("JMd5", md5_hex(data))
        .header("JCreated", "2024-03-05-T10:12:00+0100")
        .header("JModified", "2024-03-05-T10:12:00+0100")
        .send()
        .await
        .expect("cphash");
    assert_eq!(r.status(), StatusCode::OK);
    let doc = r.text().await.unwrap_or_default();
    assert!(attr(&doc, "<file ", "deleted").is_none());
    assert_eq!(attr(&doc, "<file ", "uuid"), Some(uuid.as_str()));
    assert!(doc.contains("<modified>2024-03-05-T09:12:00Z</modified>"));
    // Unknown content: 404, upload needed.
    let r = env
        .http
        .post(format!("{}?cphash=true", env.jfs("Jotta/Archive/t/other.txt")))
        .bearer_auth(&env.token)
        .header("JSize", "5")
        .header("JMd5", md5_hex(b"12345"))
        .send()
        .await
        .expect("cphash");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(env.post(&format!("{}?rm=true", env.jfs("Jotta/Archive/t/file.txt"))).await.0, StatusCode::OK);
    assert_eq!(env.get(&env.jfs("Jotta/Archive/t/file.txt")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.post(&format!("{}?rm=true", env.jfs("Jotta/Archive/t/file.txt"))).await.0, StatusCode::NOT_FOUND);

    env.upload("/jfs/Jotta/Archive/p/one.txt", b"one").await;
    env.upload("/jfs/Jotta/Archive/p/two.txt", b"two").await;
    env.upload("/jfs/Jotta/Archive/q/three.txt", b"three").await;
    env.post(&format!("{}?dlDir=true", env.jfs("Jotta/Archive/p"))).await;
    env.post(&format!("{}?dl=true", env.jfs("Jotta/Archive/q/three.txt"))).await;
    let r = env
        .http
        .post(format!("{}/files/v1/purge_trash", env.base))
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("purge");
    assert_eq!(r.status(), StatusCode::OK);
    let counts: Value = r.json().await.expect("json");
    assert_eq!(counts, json!({"folders": 1, "files": 3}));
    assert_eq!(env.get(&env.jfs("Jotta/Archive/p")).await.0, StatusCode::NOT_FOUND);
    let (_, trash) = env.get(&env.jfs("Jotta/Trash")).await;
    assert!(!trash.contains("<files>") && !trash.contains("<folders>"));
}

#[tokio::test]
async fn move_keeps_uuid_and_folder_moves_refuse_existing_targets() {
    let env = env().await;
    env.upload("/jfs/Jotta/Archive/m/a.txt", b"aaa").await;
    let (_, doc) = env.get(&env.jfs("Jotta/Archive/m/a.txt")).await;
    let uuid = attr(&doc, "<file ", "uuid").unwrap_or("").to_string();
    let dest = format!("/{}/Jotta/Archive/n/deep/b c+d.txt", env.emu.user());
    let r = env
        .http
        .post(env.jfs("Jotta/Archive/m/a.txt"))
        .query(&[("mv", dest.as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("mv");
    assert_eq!(r.status(), StatusCode::OK);
    let moved = r.text().await.unwrap_or_default();
    assert_eq!(attr(&moved, "<file ", "uuid"), Some(uuid.as_str()));
    assert_eq!(attr(&moved, "<file ", "name"), Some("b c+d.txt"));
    assert_eq!(env.get(&env.jfs("Jotta/Archive/m/a.txt")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.get(&env.jfs("Jotta/Archive/n/deep/b%20c%2Bd.txt")).await.0, StatusCode::OK);

    // cp makes a new file (new uuid) from the same content.
    let r = env
        .http
        .post(env.jfs("Jotta/Archive/n/deep/b%20c%2Bd.txt"))
        .query(&[("cp", format!("/{}/Jotta/Archive/copy.txt", env.emu.user()).as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("cp");
    assert_eq!(r.status(), StatusCode::OK);
    let copied = r.text().await.unwrap_or_default();
    assert_ne!(attr(&copied, "<file ", "uuid"), Some(uuid.as_str()));

    env.post(&format!("{}?mkDir=true", env.jfs("Jotta/Archive/x"))).await;
    env.post(&format!("{}?mkDir=true", env.jfs("Jotta/Archive/y"))).await;
    let r = env
        .http
        .post(format!("{}/", env.jfs("Jotta/Archive/x")))
        .query(&[("mvDir", format!("/{}/Jotta/Archive/y", env.emu.user()).as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("mvDir");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap_or_default().contains("<code>409</code>"));
    let r = env
        .http
        .post(format!("{}/", env.jfs("Jotta/Archive/n")))
        .query(&[("mvDir", format!("/{}/Jotta/Archive/y/n2", env.emu.user()).as_str())])
        .bearer_auth(&env.token)
        .send()
        .await
        .expect("mvDir");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(env.get(&env.jfs("Jotta/Archive/y/n2/deep/b%20c%2Bd.txt")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn names_are_case_insensitive_and_plus_is_space() {
    let env = env().await;
    env.upload("/jfs/Jotta/Archive/Docs/ReadMe.TXT", b"first").await;
    let (s, doc) = env.get(&env.jfs("jotta/archive/docs/readme.txt")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(attr(&doc, "<file ", "name"), Some("ReadMe.TXT"));
    // Overwrite with other casing: same file, existing casing kept, new revision.
    env.upload("/jfs/Jotta/Archive/docs/README.txt", b"second").await;
    let (_, doc) = env.get(&env.jfs("Jotta/Archive/Docs/ReadMe.TXT")).await;
    assert_eq!(attr(&doc, "<file ", "name"), Some("ReadMe.TXT"));
    assert!(doc.contains("<number>2</number>") && doc.contains("<revisions>"));

    env.upload("/jfs/Jotta/Archive/a b.txt", b"space").await;
    env.upload("/jfs/Jotta/Archive/a+b.txt", b"plus").await;
    assert_eq!(env.download("Jotta/Archive/a+b.txt", None).await.1, b"space");
    assert_eq!(env.download("Jotta/Archive/a%20b.txt", None).await.1, b"space");
    assert_eq!(env.download("Jotta/Archive/a%2Bb.txt", None).await.1, b"plus");
}

#[tokio::test]
async fn quota_is_enforced_with_460() {
    let env = start_in(tempfile::tempdir().expect("tempdir"), |c| c.quota = Some(1000)).await;
    let (s, _) = env.upload("/jfs/Jotta/Archive/small.bin", &[1u8; 600]).await;
    assert_eq!(s, StatusCode::CREATED);
    let body = json!({"bytes": 600, "md5": md5_hex(&[2u8; 600]), "path": "/jfs/Jotta/Archive/big.bin"});
    let r = env
        .http
        .post(format!("{}/files/v1/allocate", env.base))
        .bearer_auth(&env.token)
        .json(&body)
        .send()
        .await
        .expect("allocate");
    assert_eq!(r.status().as_u16(), 460);
    let (_, user) = env.get(&env.jfs("")).await;
    assert!(user.contains("<capacity>1000</capacity>") && user.contains("<usage>600</usage>"));
}

#[tokio::test]
async fn dropped_upload_resumes_from_resume_pos() {
    let env = env().await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    env.hook(reqwest::Method::PUT, "faults", Some(json!({"drop_next": [{"kind": "upload", "after_bytes": 70000}]})))
        .await;
    let a = env.allocate("/jfs/Jotta/Archive/resume.bin", &data).await;
    assert_eq!(a["resume_pos"], 0);
    let r =
        env.http.post(a["upload_url"].as_str().expect("url")).bearer_auth(&env.token).body(data.clone()).send().await;
    assert!(r.is_err(), "the connection should have been cut");
    let (_, doc) = env.get(&env.jfs("Jotta/Archive/resume.bin")).await;
    assert!(doc.contains("<state>INCOMPLETE</state>") && doc.contains("<size>70000</size>"));
    let (s, up) = env.upload("/jfs/Jotta/Archive/resume.bin", &data).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(up["md5"], md5_hex(&data));
    assert_eq!(env.download("Jotta/Archive/resume.bin", None).await.1, data);

    // A short body answers 420 and keeps the bytes.
    let other: Vec<u8> = vec![9u8; 5000];
    let a = env.allocate("/jfs/Jotta/Archive/short.bin", &other).await;
    let r = env
        .http
        .post(a["upload_url"].as_str().expect("url"))
        .bearer_auth(&env.token)
        .body(other[..2000].to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 420);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error_id"], "IncompleteUploadOpenApiException");
    let a = env.allocate("/jfs/Jotta/Archive/short.bin", &other).await;
    assert_eq!(a["resume_pos"], 2000);
}

#[tokio::test]
async fn corrupt_upload_keeps_current_revision() {
    let env = env().await;
    let good = b"good content".to_vec();
    env.upload("/jfs/Jotta/Archive/c.txt", &good).await;
    let claimed = b"other content".to_vec();
    let a = env.allocate("/jfs/Jotta/Archive/c.txt", &claimed).await;
    let r = env
        .http
        .post(a["upload_url"].as_str().expect("url"))
        .bearer_auth(&env.token)
        .body(b"OTHER CONTENT".to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error_id"], "CorruptUploadOpenApiException");
    let (_, doc) = env.get(&env.jfs("Jotta/Archive/c.txt")).await;
    assert!(doc.contains("<currentRevision>\n    <number>1</number>"));
    assert!(doc.contains("<latestRevision>\n    <number>2</number>\n    <state>CORRUPT</state>"));
    assert_eq!(env.download("Jotta/Archive/c.txt", None).await.1, good);
}

#[tokio::test]
async fn fail_next_answers_once_then_succeeds() {
    let env = env().await;
    env.hook(
        reqwest::Method::PUT,
        "faults",
        Some(json!({"fail_next": [{"kind": "mkdir", "status": 500, "count": 1}]})),
    )
    .await;
    let url = format!("{}?mkDir=true", env.jfs("Jotta/Archive/flaky"));
    let (s, body) = env.post(&url).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("<code>500</code>"));
    assert_eq!(env.get(&env.jfs("Jotta/Archive/flaky")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.post(&url).await.0, StatusCode::OK);
    let f = env.hook(reqwest::Method::GET, "faults", None).await;
    assert_eq!(f["fail_next"], json!([]));
}

#[tokio::test]
async fn a_hang_fault_holds_requests_until_cleared_or_its_bound() {
    let env = env().await;
    let data = b"held bytes".to_vec();
    env.upload("/jfs/Jotta/Archive/h.txt", &data).await;
    env.hook(reqwest::Method::PUT, "faults", Some(json!({"hang": {"kinds": ["download"]}}))).await;
    let counted = || async { env.hook(reqwest::Method::GET, "counters", None).await["requests"]["download"].as_u64() };
    let before = counted().await.unwrap_or(0);
    let held = tokio::spawn(
        env.http.get(format!("{}?mode=bin", env.jfs("Jotta/Archive/h.txt"))).bearer_auth(&env.token).send(),
    );
    // The download reaches the server (it is counted) and gets no answer; other kinds are served.
    for _ in 0..600 {
        if counted().await.unwrap_or(0) > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counted().await, Some(before + 1), "the download reached the server");
    assert_eq!(env.get(&env.jfs("Jotta/Archive")).await.0, StatusCode::OK, "a listing is not held");
    assert!(!held.is_finished(), "the held download was answered");
    let f = env.hook(reqwest::Method::GET, "faults", None).await;
    assert_eq!(f["hang"], json!({"kinds": ["download"], "max_ms": 120000}));
    // Cleared: the held request is served as usual.
    env.hook(reqwest::Method::PUT, "faults", Some(json!({}))).await;
    let resp = held.await.expect("task").expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.expect("body").to_vec(), data);
    // A rule never cleared holds each request for at most its bound.
    env.hook(reqwest::Method::PUT, "faults", Some(json!({"hang": {"max_ms": 200}}))).await;
    assert_eq!(env.download("Jotta/Archive/h.txt", None).await, (StatusCode::OK, data));
}

#[tokio::test]
async fn state_survives_graceful_and_crash_restarts() {
    let env = env().await;
    let data = b"persistent bytes".to_vec();
    env.upload("/jfs/Jotta/Archive/keep/p.txt", &data).await;
    let lt = env.emu.login_token();
    let Env { emu, dir, .. } = env;
    emu.shutdown().await;

    let env = start_in(dir, |_| {}).await;
    assert_eq!(env.download("Jotta/Archive/keep/p.txt", None).await.1, data);
    // An unused login token minted before the restart still works once.
    assert_eq!(password_grant(&env.http, &env.base, &lt).await.status(), StatusCode::OK);
    env.upload("/jfs/Jotta/Archive/keep/q.txt", b"after restart").await;
    env.post(&format!("{}?dl=true", env.jfs("Jotta/Archive/keep/p.txt"))).await;
    let old_token = env.token.clone();
    let Env { emu, dir, .. } = env;
    drop(emu); // no shutdown: only the log remains

    let env = start_in(dir, |_| {}).await;
    assert_eq!(env.download("Jotta/Archive/keep/q.txt", None).await.1, b"after restart");
    let (_, doc) = env.get(&env.jfs("Jotta/Archive/keep/p.txt")).await;
    assert!(attr(&doc, "<file ", "deleted").is_some());
    // Access tokens survive restarts too.
    let r = env.http.get(env.jfs("")).bearer_auth(&old_token).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn seeded_tree_lists_fast() {
    let env = env().await;
    let r = env
        .hook(
            reqwest::Method::POST,
            "seed",
            Some(json!({"path": "/Jotta/Archive/tree", "dirs": 20, "files_per_dir": 500})),
        )
        .await;
    assert_eq!(r["files"], 10_000);
    let (s, ls) = env.get(&format!("{}?mode=liststream", env.jfs("Jotta/Archive/tree"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ls.contains("<stats><folders>21</folders><files>10000</files></stats>"));
    let (_, dir) = env.get(&env.jfs("Jotta/Archive/tree/dir-00003")).await;
    assert!(dir.contains("num_files=\"500\""));
}

#[tokio::test]
async fn demo_content_and_legacy_basic_upload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = start_in(dir, |c| c.demo_content = true).await;
    let (s, readme) = env.download("Jotta/Archive/README.txt", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&readme).contains("jottafuse demo account"));
    assert_eq!(env.download("Jotta/Archive/Videos/sample.bin", None).await.1.len(), 5 * 1024 * 1024);
    let (_, user) = env.get(&env.jfs("")).await;
    assert!(user.contains("<type>LAPTOP</type>"));
    let (_, trash) = env.get(&env.jfs("Jotta/Trash")).await;
    assert!(trash.contains("old-notes.txt"));

    // Legacy upload with HTTP Basic credentials.
    let body = b"legacy body".to_vec();
    let r = env
        .http
        .post(format!("{}?umode=nomultipart", env.jfs("Jotta/Archive/legacy.txt")))
        .basic_auth("demo", Some("demo-password"))
        .header("JSize", body.len().to_string())
        .header("JMd5", md5_hex(&body).to_uppercase())
        .body(body.clone())
        .send()
        .await
        .expect("legacy");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.text().await.unwrap_or_default().contains("<state>COMPLETED</state>"));
    let r = env.http.get(env.jfs("")).basic_auth("demo", Some("wrong")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap_or_default().contains("BadCredentialsException"));
}

#[tokio::test]
async fn share_links_and_public_download() {
    let env = env().await;
    env.upload("/jfs/Jotta/Archive/shared.txt", b"for everyone").await;
    let (s, doc) = env.get(&format!("{}?mode=enableShare", env.jfs("Jotta/Archive/shared.txt"))).await;
    assert_eq!(s, StatusCode::OK);
    let start = doc.find("<publicURI>").expect("publicURI") + "<publicURI>".len();
    let uri = doc[start..start + 32].to_string();
    assert!(uri.chars().all(|c| c.is_ascii_hexdigit()));
    let (_, links) = env.get(&env.jfs("Jotta/Links")).await;
    assert!(links.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<searchresult "));
    assert!(links.contains(&uri));
    let r = env.http.get(format!("{}/opin/io/downloadPublic/demo/{uri}", env.base)).send().await.expect("public");
    assert_eq!(r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(), b"for everyone");
    let (s, doc) = env.get(&format!("{}?mode=disableShare", env.jfs("Jotta/Archive/shared.txt"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!doc.contains("publicURI"));
}
