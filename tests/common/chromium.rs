//! Headless Chromium through chromedriver (WebDriver), for the desk's
//! browser tests: starting them, waiting for elements, reading QR codes
//! back with zbarimg, and checking pages with axe-core.
//!
//! They need Debian's `chromium`, `chromium-driver`, `zbar-tools` and
//! `poppler-utils` (pdftoppm, to read printed pages back), and
//! axe-core from the npm registry (`scripts/test` fetches it into
//! `target/axe-core`). Without them the browser tests print what is
//! missing and pass, unless RELAY_TOPUP_REQUIRE_BROWSER=1 (as in CI).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

pub const REQUIRE_BROWSER_VAR: &str = "RELAY_TOPUP_REQUIRE_BROWSER";
/// Generous: the machine running the tests may be small and busy.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

pub fn installed(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the fonts the slips' second languages need are installed
/// (fonts-noto-core: Arabic script and Ethiopic; DejaVu alone has some
/// Arabic but no Ethiopic, so Tigrinya tells them apart).
fn arabic_font() -> bool {
    Command::new("fc-list")
        .arg(":lang=ti")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// Whether the browser tests can run; panics when they must and cannot.
pub fn browser_available() -> bool {
    let ok = installed("chromium", "--version")
        && installed("chromedriver", "--version")
        && installed("zbarimg", "--version")
        && installed("pdftoppm", "-v")
        && installed("pdftotext", "-v")
        && arabic_font();
    if !ok {
        if std::env::var(REQUIRE_BROWSER_VAR).is_ok_and(|v| v == "1") {
            panic!(
                "{REQUIRE_BROWSER_VAR}=1 but chromium, chromedriver, zbarimg, poppler-utils or an Arabic font (fonts-noto-core) is missing"
            );
        }
        super::note_skipped(
            "browser",
            "chromium not installed (apt-get install chromium chromium-driver zbar-tools poppler-utils fonts-noto-core)",
        );
    }
    ok
}

/// chromedriver on a free port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let http = reqwest::Client::new();
        for _ in 0..600 {
            let ready = match http.get(&status).send().await {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready");
    }

    pub async fn browser(&self, profile: &std::path::Path) -> fantoccini::Client {
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1600".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        let client = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(caps)
        .connect(&self.url)
        .await
        .unwrap();
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(BROWSER_TIMEOUT),
                Some(BROWSER_TIMEOUT),
                Some(Duration::ZERO),
            ))
            .await
            .unwrap();
        client
    }
}

/// Browser tests take turns: two Chromiums at once on a small machine only
/// make both slow.
pub static BROWSER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn wait_for(client: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(BROWSER_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

pub fn is_png(bytes: &[u8]) -> bool {
    bytes.len() > 8 && bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

/// What zbarimg reads in a PNG file.
pub fn scan(path: &std::path::Path) -> String {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zbarimg found no code in {}",
        path.display()
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Every code zbarimg reads on the pages of a PDF, rendered at `dpi` as
/// a printer would (pdftoppm, one PNG per page next to the PDF).
pub fn scan_pdf(pdf: &std::path::Path, dpi: u32) -> Vec<String> {
    let prefix = pdf.with_extension("");
    let out = Command::new("pdftoppm")
        .args(["-png", "-r", &dpi.to_string()])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftoppm {}: {out:?}", pdf.display());
    let stem = prefix.file_name().unwrap().to_string_lossy().into_owned();
    let mut pages: Vec<_> = std::fs::read_dir(pdf.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{stem}-")) && name.ends_with(".png")
        })
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no page rendered from {}", pdf.display());
    let mut codes = Vec::new();
    for page in &pages {
        let out = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(page)
            .output()
            .unwrap();
        codes.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty()),
        );
    }
    codes
}

/// The paper a layout's `@page` names, never shrunk to fit: what does not
/// fit is cut off, as a printer would cut it. The page's own `@page`
/// margins apply.
pub fn paper(layout: &str) -> fantoccini::wd::PrintConfiguration {
    let (width, height) = if layout == "receipt" {
        (8.0, 29.7)
    } else {
        (21.0, 29.7)
    };
    fantoccini::wd::PrintConfiguration::builder()
        .size(fantoccini::wd::PrintSize { width, height })
        .margins(fantoccini::wd::PrintMargins {
            top: 0.0,
            bottom: 0.0,
            left: 0.0,
            right: 0.0,
        })
        .shrink_to_fit(false)
        .background(true)
        .build()
        .unwrap()
}

/// The text drawn on a PDF's pages, as `pdftotext` reads it in the order
/// it was drawn: glyphs cut off by the page or by a clipping box are not
/// drawn, so they are not there.
pub fn pdf_text(pdf: &std::path::Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-raw", "-enc", "UTF-8"])
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext {}: {out:?}", pdf.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Where axe-core's browser build is: `RELAY_TOPUP_AXE_JS`, or where
/// `scripts/test` puts it.
pub fn axe_path() -> std::path::PathBuf {
    std::env::var_os("RELAY_TOPUP_AXE_JS").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/axe-core/node_modules/axe-core/axe.min.js")
        },
        std::path::PathBuf::from,
    )
}

/// axe-core's source, or a panic that says how to get it.
pub fn axe_source() -> String {
    let path = axe_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): npm install --prefix target/axe-core axe-core@4",
            path.display()
        )
    })
}

/// Runs axe-core on the page the browser shows and fails on any violation
/// of impact "serious" or "critical", naming the page, the rule and the
/// elements. Answers how many rules found nothing to say (for the record).
pub async fn assert_accessible(client: &fantoccini::Client, axe: &str, page: &str) -> usize {
    client.execute(axe, vec![]).await.unwrap();
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
            .then(r => done({
                passes: r.passes.length,
                violations: r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
                })),
            }))
            .catch(e => done({ error: String(e) }));
    "#;
    let result = client.execute_async(script, vec![]).await.unwrap();
    assert!(
        result.get("error").is_none(),
        "axe failed on {page}: {result}"
    );
    let bad: Vec<&Value> = result["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        bad.is_empty(),
        "accessibility violations on {page}: {bad:#?}"
    );
    result["passes"].as_u64().unwrap_or(0) as usize
}
