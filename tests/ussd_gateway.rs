//! The USSD gateway of `examples/ussd_gateway.rs`, driven end to end
//! against the real server on SQLite and PostgreSQL: a PIN issued by a
//! structure is dialled from a basic phone's line and credited; the same
//! PIN again, a typo, forged PINs until the line is barred, while another
//! line still tops up. Each screen fits a USSD answer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

mod common;

use std::path::PathBuf;
use std::process::Stdio;

use common::{Db, TestApp};
use relay_topup::code::{Pin, PinRef};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The example's binary, beside this test's (`scripts/test` builds the
/// examples before the tests).
fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile.join("examples").join("ussd_gateway");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` first (scripts/test does)",
        path.display()
    );
    path
}

/// One gateway process: a line in, a screen out.
struct Phone {
    child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    output: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Phone {
    fn start(app: &TestApp, token: &str) -> Self {
        let mut child = tokio::process::Command::new(gateway_binary())
            .env("RELAY_TOPUP_URL", &app.base)
            .env("RELAY_TOPUP_OPERATOR_TOKEN", token)
            .env_remove("USSD_SERVICE_CODE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            input,
            output,
        }
    }

    /// Dials `text` from `msisdn`; the screen the phone shows.
    async fn dial(&mut self, msisdn: &str, text: &str) -> String {
        let line = format!("{msisdn} {text}\n");
        self.input.write_all(line.as_bytes()).await.unwrap();
        self.input.flush().await.unwrap();
        let screen = self.output.next_line().await.unwrap().unwrap();
        assert!(screen.chars().count() <= 182, "{screen}");
        screen
    }

    async fn stop(mut self) {
        drop(self.input);
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "{status}");
    }
}

fn forged(pin: &str, n: u32) -> String {
    let digits: String = pin.chars().filter(char::is_ascii_digit).collect();
    let reference = PinRef::new(digits[..1].parse().unwrap(), digits[1..10].parse().unwrap());
    let tag = (digits[10..19].parse::<u32>().unwrap() + 1 + n) % 1_000_000_000;
    Pin::from_parts(reference.unwrap(), tag).to_string()
}

async fn a_basic_phone_tops_up_through_the_gateway(db: Db) {
    let Some(app) = TestApp::spawn(db).await else {
        return;
    };
    let (_, structure) = app.funded_structure("Relais numérique", 4 * 1024).await;
    let body = json!({ "product": "data-1gb", "count": 3, "format": "pin" });
    let issued = app.post("/v1/vouchers", &structure, body).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{issued:?}");
    let pins: Vec<String> = issued.body["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap().to_owned())
        .collect();
    let gateway_token = app.token("operator", None).await;
    let mut phone = Phone::start(&app, &gateway_token);

    let screen = phone
        .dial("+33612345678", &format!("*144*{}#", pins[0]))
        .await;
    assert_eq!(
        screen,
        "Recharge réussie : 1 Go de données internet, valable 30 jours. Merci !"
    );
    let screen = phone
        .dial("+33612345678", &format!("*144*{}#", pins[0]))
        .await;
    assert!(screen.starts_with("Ce code a déjà servi"), "{screen}");
    // One digit wrong: a typo, named as one.
    let mut typo: Vec<char> = pins[1].chars().collect();
    typo[7] = if typo[7] == '1' { '2' } else { '1' };
    let typo: String = typo.into_iter().collect();
    let screen = phone.dial("+33612345678", &format!("*144*{typo}#")).await;
    assert!(screen.starts_with("Code mal saisi"), "{screen}");

    // Five forged PINs from one line, then that line is barred, even for
    // a genuine PIN; another line still tops up with it.
    for n in 0..5 {
        let screen = phone
            .dial("+33699999999", &format!("*144*{}#", forged(&pins[1], n)))
            .await;
        assert!(
            screen.starts_with("Ce code n'est pas valable"),
            "{n}: {screen}"
        );
    }
    let screen = phone
        .dial("+33699999999", &format!("*144*{}#", pins[1]))
        .await;
    assert!(screen.contains("bloquée pendant 24 heures"), "{screen}");
    let screen = phone
        .dial("+33612345679", &format!("*144*{}#", pins[1]))
        .await;
    assert!(screen.starts_with("Recharge réussie"), "{screen}");
    let screen = phone.dial("+33612345679", "*145*1234#").await;
    assert!(
        screen.starts_with("Pour recharger, composez *144*"),
        "{screen}"
    );
    phone.stop().await;

    // The service saw two redemptions, both named by their reference.
    let statement = app
        .get(
            "/v1/redemptions?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            &gateway_token,
        )
        .await;
    assert_eq!(statement.body["redemptions"].as_array().unwrap().len(), 2);
    common::assert_books_clean(&app).await;
    app.stop().await;
}
both!(a_basic_phone_tops_up_through_the_gateway);
