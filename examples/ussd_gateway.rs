//! A USSD gateway, as an operator would write one against relay-topup's
//! operator API, to show the whole path of a PIN from a basic phone.
//!
//! It reads one dialled string a line on standard input, with the caller's
//! number first, as the network hands it over:
//!
//! ```text
//! +33612345678 *144*7123 4567 8901 2345 6789#
//! ```
//!
//! and answers each on standard output with the screen the phone shows: at
//! most 182 characters (a USSD screen), in French, in words a person
//! understands — what was credited, or why not.
//!
//! ```sh
//! RELAY_TOPUP_URL=http://127.0.0.1:8080 RELAY_TOPUP_OPERATOR_TOKEN=rtk_… \
//!     cargo run --example ussd_gateway
//! ```
//!
//! `USSD_SERVICE_CODE` (default `144`) is the short code dialled before the
//! PIN. Every redemption carries an `Idempotency-Key` made from the
//! session, so a request that is retried after a network failure credits
//! the line at most once.

use std::io::BufRead;
use std::time::Duration;

use serde_json::{Value, json};

/// The longest screen a USSD answer may fill.
const MAX_SCREEN_CHARS: usize = 182;
/// Attempts per redemption when the service cannot be reached.
const ATTEMPTS: usize = 2;

/// What the network handed over: who dialled, and the PIN if the string
/// was this service's.
#[derive(Debug, PartialEq, Eq)]
enum Dialled {
    Pin { msisdn: String, pin: String },
    Unknown,
}

/// `+33612345678 *144*7123 4567 8901 2345 6789#` → the number and the PIN
/// (digits and spaces, as keyed; the service reads and checks it).
fn parse_dialled(line: &str, service_code: &str) -> Dialled {
    let Some((msisdn, rest)) = line.trim().split_once(char::is_whitespace) else {
        return Dialled::Unknown;
    };
    let prefix = format!("*{service_code}*");
    match rest
        .trim()
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix('#'))
    {
        Some(pin) if !pin.trim().is_empty() => Dialled::Pin {
            msisdn: msisdn.to_owned(),
            pin: pin.trim().to_owned(),
        },
        _ => Dialled::Unknown,
    }
}

/// "3 jours", "2 heures", "quelques minutes": how long a bar lasts.
fn duration_fr(secs: i64) -> String {
    let days = secs / 86_400;
    let hours = (secs + 3599) / 3600;
    match (days, hours) {
        (d, _) if d >= 2 => format!("{d} jours"),
        (_, h) if h >= 2 => format!("{h} heures"),
        (_, 1) => "1 heure".to_owned(),
        _ => "quelques minutes".to_owned(),
    }
}

/// What a redemption credited, in words: "1 Go de données internet,
/// valable 30 jours".
fn credited_fr(answer: &Value) -> String {
    let amount = answer["amount"].as_i64().unwrap_or(0);
    let days = answer["validity_days"].as_i64().unwrap_or(0);
    let what = match answer["resource"].as_str() {
        Some("data_mb") if amount % 1024 == 0 => {
            format!("{} Go de données internet", amount / 1024)
        }
        Some("data_mb") => format!("{amount} Mo de données internet"),
        Some("voice") => format!("appels et SMS illimités pendant {amount} jours"),
        _ => answer["product"]
            .as_str()
            .unwrap_or("une recharge")
            .to_owned(),
    };
    format!("{what}, valable {days} jours")
}

/// The screen for an answer of the operator API: its status, its problem
/// `code` and `Retry-After`, or its body.
fn screen(status: u16, body: &Value, retry_after_secs: Option<i64>, service_code: &str) -> String {
    let again = format!("Vérifiez le ticket et recomposez *{service_code}*code#.");
    let text = match (status, body["code"].as_str()) {
        (201, _) => format!("Recharge réussie : {}. Merci !", credited_fr(body)),
        (_, Some("checksum_mismatch")) => {
            format!("Code mal saisi : un chiffre est faux ou inversé. {again}")
        }
        (_, Some("malformed_code")) => format!("Le code a 20 chiffres. {again}"),
        (_, Some("invalid_code")) => "Ce code n'est pas valable. Vérifiez le ticket, ou demandez \
            de l'aide à la structure qui vous l'a donné."
            .to_owned(),
        (_, Some("already_redeemed")) => {
            "Ce code a déjà servi : chaque code ne s'utilise qu'une fois.".to_owned()
        }
        (_, Some("reserved")) => {
            "Ce code est en cours d'utilisation. Réessayez dans quelques minutes.".to_owned()
        }
        (_, Some("expired")) => "Ce code a expiré. Demandez un nouveau code à la structure qui \
            vous l'a donné."
            .to_owned(),
        (_, Some("voided")) => {
            "Ce code a été annulé par la structure. Demandez-lui un nouveau code.".to_owned()
        }
        (_, Some("beneficiary_cap_reached")) => {
            "Vous avez reçu toutes les recharges prévues ce mois-ci pour cette ligne.".to_owned()
        }
        (_, Some("locked_out")) => format!(
            "Trop de codes faux depuis cette ligne : elle est bloquée pendant {}. Demandez de \
             l'aide à la structure qui vous a donné le code.",
            duration_fr(retry_after_secs.unwrap_or(0))
        ),
        _ => "Service momentanément indisponible. Réessayez dans quelques minutes.".to_owned(),
    };
    fit(text)
}

/// Cuts a screen to the USSD limit, on a character boundary.
fn fit(text: String) -> String {
    if text.chars().count() <= MAX_SCREEN_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_SCREEN_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The gateway: the service's address, its token, and a session counter
/// for idempotency keys.
struct Gateway {
    client: reqwest::Client,
    base: String,
    token: String,
    service_code: String,
    session: String,
    sent: u64,
}

impl Gateway {
    /// Redeems one PIN for one line; the answer's screen.
    async fn redeem(&mut self, msisdn: &str, pin: &str) -> String {
        self.sent += 1;
        let key = format!("ussd-{}-{}", self.session, self.sent);
        let body = json!({ "code": pin, "msisdn": msisdn, "operator_ref": key });
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .client
                .post(format!("{}/v1/redemptions", self.base))
                .bearer_auth(&self.token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(response) => return self.read(response).await,
                Err(e) if attempt < ATTEMPTS => {
                    eprintln!("ussd gateway: {e}; trying again with the same key");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => eprintln!("ussd gateway: {e}"),
            }
        }
        screen(503, &Value::Null, None, &self.service_code)
    }

    async fn read(&self, response: reqwest::Response) -> String {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body: Value = response.json().await.unwrap_or(Value::Null);
        screen(status, &body, retry_after, &self.service_code)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let (Ok(base), Ok(token)) = (
        std::env::var("RELAY_TOPUP_URL"),
        std::env::var("RELAY_TOPUP_OPERATOR_TOKEN"),
    ) else {
        eprintln!("set RELAY_TOPUP_URL and RELAY_TOPUP_OPERATOR_TOKEN");
        return std::process::ExitCode::FAILURE;
    };
    let service_code = std::env::var("USSD_SERVICE_CODE").unwrap_or_else(|_| "144".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut gateway = Gateway {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
        base: base.trim_end_matches('/').to_owned(),
        token,
        session: format!("{}-{started}", std::process::id()),
        service_code,
        sent: 0,
    };
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = match parse_dialled(&line, &gateway.service_code) {
            Dialled::Pin { msisdn, pin } => gateway.redeem(&msisdn, &pin).await,
            Dialled::Unknown => fit(format!(
                "Pour recharger, composez *{}*, puis le code du ticket, puis #.",
                gateway.service_code
            )),
        };
        println!("{answer}");
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialled_strings_are_read_as_the_network_sends_them() {
        assert_eq!(
            parse_dialled("+33612345678 *144*7123 4567 8901 2345 6789#", "144"),
            Dialled::Pin {
                msisdn: "+33612345678".into(),
                pin: "7123 4567 8901 2345 6789".into()
            }
        );
        assert_eq!(
            parse_dialled("+33612345678 *145*1234#", "144"),
            Dialled::Unknown
        );
        assert_eq!(
            parse_dialled("+33612345678 *144*#", "144"),
            Dialled::Unknown
        );
        assert_eq!(parse_dialled("*144*1234#", "144"), Dialled::Unknown);
    }

    #[test]
    fn every_screen_fits_a_ussd_answer() {
        let codes = [
            "checksum_mismatch",
            "malformed_code",
            "invalid_code",
            "already_redeemed",
            "reserved",
            "expired",
            "voided",
            "beneficiary_cap_reached",
            "locked_out",
            "internal",
        ];
        for code in codes {
            let text = screen(409, &json!({ "code": code }), Some(2_592_000), "144");
            assert!(text.chars().count() <= MAX_SCREEN_CHARS, "{code}: {text}");
        }
        let credited = json!({ "resource": "data_mb", "amount": 1024, "validity_days": 30 });
        assert_eq!(
            screen(201, &credited, None, "144"),
            "Recharge réussie : 1 Go de données internet, valable 30 jours. Merci !"
        );
        assert_eq!(duration_fr(86_400), "24 heures");
        assert_eq!(duration_fr(172_800), "2 jours");
        assert_eq!(fit("é".repeat(200)).chars().count(), MAX_SCREEN_CHARS);
    }
}
