//! The instructions a slip prints, one table per language: French always,
//! and a second language the person reads, chosen at print time. Only the
//! instructions are translated; the code, the product and the facts stay
//! as issued. Each text says one thing in everyday words, with the keys
//! to press, and names nothing the person has to look up.
//!
//! A dialling sentence holds `{before}` and `{after}`: the two sides of
//! the operator's USSD string around the PIN (`*144*` and `#`), which the
//! slip sets apart left to right even in a right-to-left sentence.

/// A language a slip's instructions can be printed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlipLang {
    Fr,
    En,
    Ar,
    Uk,
    /// Dari (Afghan Persian).
    Prs,
    /// Pashto.
    Ps,
    /// Tigrinya.
    Ti,
}

/// One language's instructions.
pub struct SlipWords {
    /// The language's tag, as pages and the print address name it.
    pub tag: &'static str,
    pub right_to_left: bool,
    /// Its own name, as a reader finds it in a list.
    pub own_name: &'static str,
    /// Its name in French, for the staff choosing it.
    pub name_fr: &'static str,
    /// A slip with a letters-and-digits code (smartphones).
    pub code: &'static str,
    /// A PIN slip whose operator gave no USSD string.
    pub pin: &'static str,
    /// A PIN slip: key in `{before}`, the twenty digits, `{after}`.
    pub dial: &'static str,
    /// What every slip adds: one use, free, not for sale.
    pub once: &'static str,
}

impl SlipLang {
    pub const ALL: [Self; 7] = [
        Self::Fr,
        Self::En,
        Self::Ar,
        Self::Uk,
        Self::Prs,
        Self::Ps,
        Self::Ti,
    ];

    /// The languages offered beside French.
    pub fn seconds() -> impl Iterator<Item = Self> {
        Self::ALL.into_iter().filter(|l| *l != Self::Fr)
    }

    pub fn parse(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.words().tag == tag)
    }

    pub fn words(self) -> &'static SlipWords {
        match self {
            Self::Fr => &FR,
            Self::En => &EN,
            Self::Ar => &AR,
            Self::Uk => &UK,
            Self::Prs => &PRS,
            Self::Ps => &PS,
            Self::Ti => &TI,
        }
    }
}

/// Pieces of a dialling sentence: words, and the two sides of the USSD
/// string, in reading order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Words(&'a str),
    Keys(&'a str),
}

/// Splits a dialling sentence around `{before}` and `{after}`.
pub fn dial_pieces<'a>(sentence: &'a str, before: &'a str, after: &'a str) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut rest = sentence;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let keys = match &rest[start..=start + len] {
            "{before}" => before,
            "{after}" => after,
            _ => break,
        };
        if start > 0 {
            pieces.push(Piece::Words(&rest[..start]));
        }
        pieces.push(Piece::Keys(keys));
        rest = &rest[start + len + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Words(rest));
    }
    pieces
}

static FR: SlipWords = SlipWords {
    tag: "fr",
    right_to_left: false,
    own_name: "français",
    name_fr: "français",
    code: "Pour recharger : appelez le service de recharge de votre opérateur, ou scannez le \
        QR code, puis tapez le code.",
    pin: "Pour recharger depuis n’importe quel téléphone : appelez le numéro de recharge de \
        votre opérateur, puis tapez les 20 chiffres du code.",
    dial: "Pour recharger depuis n’importe quel téléphone, même sans internet : tapez {before} \
        puis les 20 chiffres du code, puis {after} et appuyez sur la touche d’appel.",
    once: "Un code ne sert qu’une fois. Gratuit, il ne peut pas être vendu.",
};

static EN: SlipWords = SlipWords {
    tag: "en",
    right_to_left: false,
    own_name: "English",
    name_fr: "anglais",
    code: "To top up: call your operator's top-up service, or scan the QR code, then key in \
        the code.",
    pin: "To top up from any phone: call your operator's top-up number, then key in the 20 \
        digits of the code.",
    dial: "To top up from any phone, even without internet: key in {before} then the 20 digits \
        of the code, then {after} and press the call key.",
    once: "A code works only once. It is free and must not be sold.",
};

static AR: SlipWords = SlipWords {
    tag: "ar",
    right_to_left: true,
    own_name: "العربية",
    name_fr: "arabe",
    code: "لشحن الرصيد: اتصل بخدمة الشحن لدى شركة الهاتف، أو امسح رمز QR، ثم اكتب الرمز.",
    pin: "لشحن الرصيد من أي هاتف: اتصل برقم الشحن لدى شركة الهاتف، ثم اكتب أرقام الرمز العشرين.",
    dial: "لشحن الرصيد من أي هاتف، حتى بدون إنترنت: اكتب {before} ثم أرقام الرمز العشرين، ثم \
        {after} واضغط زر الاتصال.",
    once: "يُستعمل الرمز مرة واحدة فقط. إنه مجاني ولا يجوز بيعه.",
};

static UK: SlipWords = SlipWords {
    tag: "uk",
    right_to_left: false,
    own_name: "українська",
    name_fr: "ukrainien",
    code: "Щоб поповнити рахунок: зателефонуйте в службу поповнення вашого оператора або \
        відскануйте QR-код, потім введіть код.",
    pin: "Щоб поповнити рахунок з будь-якого телефона: зателефонуйте на номер поповнення \
        вашого оператора, потім введіть 20 цифр коду.",
    dial: "Щоб поповнити рахунок з будь-якого телефона, навіть без інтернету: наберіть \
        {before}, потім 20 цифр коду, потім {after} і натисніть кнопку виклику.",
    once: "Код діє лише один раз. Він безкоштовний, продавати його не можна.",
};

static PRS: SlipWords = SlipWords {
    tag: "prs",
    right_to_left: true,
    own_name: "دری",
    name_fr: "dari",
    code: "برای شارژ کردن: به خدمات شارژ شرکت مخابراتی خود زنگ بزنید یا کد QR را اسکن کنید، \
        بعد کد را بنویسید.",
    pin: "برای شارژ کردن از هر تیلفون: به شمارهٔ شارژ شرکت مخابراتی خود زنگ بزنید، بعد ۲۰ \
        رقم کد را بنویسید.",
    dial: "برای شارژ کردن از هر تیلفون، حتی بدون انترنت: اول {before} را بزنید، بعد ۲۰ رقم \
        کد را، بعد {after} را بزنید و دکمهٔ زنگ را فشار دهید.",
    once: "هر کد فقط یک بار کار می‌کند. رایگان است و نباید فروخته شود.",
};

static PS: SlipWords = SlipWords {
    tag: "ps",
    right_to_left: true,
    own_name: "پښتو",
    name_fr: "pachto",
    code: "د چارج لپاره: د خپل مخابراتي شرکت د چارج خدمت ته زنګ ووهئ یا QR کوډ سکن کړئ، \
        بیا کوډ ولیکئ.",
    pin: "له هر ټیلیفون څخه د چارج لپاره: د خپل مخابراتي شرکت د چارج شمېرې ته زنګ ووهئ، \
        بیا د کوډ ۲۰ عددونه ولیکئ.",
    dial: "له هر ټیلیفون څخه د چارج لپاره، حتی له انټرنیټ پرته: لومړی {before} ووهئ، بیا \
        د کوډ ۲۰ عددونه، بیا {after} ووهئ او د زنګ تڼۍ کېکاږئ.",
    once: "هر کوډ یوازې یو ځل کار کوي. وړیا دی او باید و نه پلورل شي.",
};

static TI: SlipWords = SlipWords {
    tag: "ti",
    right_to_left: false,
    own_name: "ትግርኛ",
    name_fr: "tigrigna",
    code: "ንምምላእ ሒሳብ፡ ናብ ኣገልግሎት ምምላእ ናይ ኦፕሬተርኩም ደውሉ ወይ QR ኮድ ስካን ግበሩ፡ ድሕሪኡ ነቲ \
        ኮድ ጠውቑ።",
    pin: "ካብ ዝኾነ ተሌፎን ሒሳብ ንምምላእ፡ ናብ ቁጽሪ ምምላእ ናይ ኦፕሬተርኩም ደውሉ፡ ድሕሪኡ 20 ኣሃዛት \
        ናይቲ ኮድ ጠውቑ።",
    dial: "ካብ ዝኾነ ተሌፎን፡ ብዘይ ኢንተርነት እውን፡ ሒሳብ ንምምላእ፡ {before} ጠውቑ፡ ድሕሪኡ 20 \
        ኣሃዛት ናይቲ ኮድ፡ ድሕሪኡ {after} ጠውቑ፡ ሽዑ ናይ ምድዋል መልጎም ጠውቑ።",
    once: "ሓደ ኮድ ሓንሳብ ጥራይ እዩ ዝሰርሕ። ብናጻ እዩ፡ ክሽየጥ የብሉን።",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_its_tag_and_both_sides_of_the_dial() {
        for lang in SlipLang::ALL {
            let w = lang.words();
            assert_eq!(SlipLang::parse(w.tag), Some(lang));
            let pieces = dial_pieces(w.dial, "*144*", "#");
            let keys: Vec<_> = pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Keys(k) => Some(*k),
                    Piece::Words(_) => None,
                })
                .collect();
            assert_eq!(keys, ["*144*", "#"], "{}", w.tag);
            for text in [w.code, w.pin, w.dial, w.once] {
                assert!(!text.contains("  "), "{}: {text}", w.tag);
            }
        }
        assert_eq!(SlipLang::seconds().count(), 6);
        assert_eq!(SlipLang::parse("de"), None);
    }

    #[test]
    fn a_sentence_splits_around_the_keys() {
        assert_eq!(
            dial_pieces("tapez {before} puis le code, puis {after}.", "*144*", "#"),
            [
                Piece::Words("tapez "),
                Piece::Keys("*144*"),
                Piece::Words(" puis le code, puis "),
                Piece::Keys("#"),
                Piece::Words("."),
            ]
        );
    }
}
