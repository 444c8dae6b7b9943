//! Owns the simulator's in-memory LiveAgent data, seeded deterministically so every run and
//! every test sees the same customers, conversations, tags and knowledge base.

use serde_json::{json, Value};
use std::collections::BTreeMap;

const LATIN_FIRST: &[&str] = &["Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Hugo", "Lena", "Jonas", "Sofia", "Mateo"];
const LATIN_LAST: &[&str] = &["Smith", "Novak", "Garcia", "Muller", "Rossi", "Kowalski", "Dubois", "Silva", "Jensen", "Horvath"];
/// (kanji, romaji) pairs, so Japanese customers still get ASCII email addresses.
const JA_FIRST: &[(&str, &str)] = &[
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("健", "ken"),
    ("さくら", "sakura"),
    ("翔太", "shota"),
    ("陽菜", "hina"),
    ("大輔", "daisuke"),
    ("美咲", "misaki"),
];
const JA_LAST: &[(&str, &str)] = &[
    ("山田", "yamada"),
    ("佐藤", "sato"),
    ("鈴木", "suzuki"),
    ("高橋", "takahashi"),
    ("田中", "tanaka"),
    ("伊藤", "ito"),
    ("渡辺", "watanabe"),
];

pub const CUSTOMERS: usize = 300;
pub const CONVERSATIONS: usize = 120;
pub const STATUSES: &[&str] = &["N", "T", "R", "A", "C", "W", "L"];
pub const CHANNELS: &[&str] = &["E", "B", "M", "C", "F", "T"];

/// Tiny deterministic generator (64-bit LCG): the same seed gives the same data everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn token(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..len).map(|_| CHARS[self.below(CHARS.len())] as char).collect()
    }
}

/// `YYYY-MM-DD HH:MM:SS` for a number of hours after 2024-01-01 00:00:00 (all months 28 days
/// long: good enough for ordered, valid, deterministic dates).
pub fn datetime(hours: u64) -> String {
    let (days, hour) = (hours / 24, hours % 24);
    let (year, rest) = (2024 + days / 336, days % 336);
    format!("{year:04}-{:02}-{:02} {hour:02}:{:02}:{:02}", rest / 28 + 1, rest % 28 + 1, (hours * 7) % 60, (hours * 13) % 60)
}

/// A customer with every field LiveAgent keeps.
#[derive(Debug, Clone)]
pub struct Customer {
    pub contactid: String,
    pub email: String,
    pub firstname: String,
    pub lastname: String,
    pub systemname: String,
    pub authtoken: String,
    pub browsercookiename: String,
    pub role: String,
    pub gender: String,
    pub userid: String,
    pub datecreated: String,
    pub phone: String,
    pub note: String,
    pub companyid: Option<String>,
    /// Custom field code → value.
    pub fields: BTreeMap<String, String>,
    /// Customer-group ids.
    pub groups: Vec<String>,
}

impl Customer {
    /// The item of `GET /customers`, fields exactly as documented.
    pub fn list_item(&self) -> Value {
        json!({"contactid": self.contactid, "email": self.email, "firstname": self.firstname, "lastname": self.lastname,
               "systemname": self.systemname, "userid": self.userid, "gender": self.gender})
    }

    /// The body of `GET /customers/{id}`: the documented example's fields first, in its order
    /// and with its values, then the fields later LiveAgent versions added and the public
    /// clients read (`companyid` 4.23, `datecreated` 4.22, `note` 4.25, custom and unique fields).
    pub fn detail(&self) -> Value {
        json!({"contactid": self.contactid, "email": self.email, "firstname": self.firstname, "lastname": self.lastname,
               "systemname": self.systemname, "authtoken": self.authtoken, "browsercookiename": self.browsercookiename,
               "role": self.role, "gender": self.gender, "userid": self.userid, "companyid": self.companyid,
               "datecreated": self.datecreated, "note": self.note, "customfields": fields_list(&self.fields),
               "uniquefields": self.unique_fields()})
    }

    /// The contact's unique identifiers as LiveAgent lists them: each e-mail and phone number.
    fn unique_fields(&self) -> Vec<Value> {
        let email = (!self.email.is_empty()).then(|| json!({"code": "email", "value": self.email}));
        let phone = (!self.phone.is_empty()).then(|| json!({"code": "phone", "value": self.phone}));
        email.into_iter().chain(phone).collect()
    }

    pub fn matches(&self, ident: &str) -> bool {
        self.contactid == ident || self.email.eq_ignore_ascii_case(ident)
    }
}

/// Custom fields as LiveAgent lists them: `[{"code": …, "value": …}]`.
pub fn fields_list(fields: &BTreeMap<String, String>) -> Vec<Value> {
    fields.iter().map(|(code, value)| json!({"code": code, "value": value})).collect()
}

/// Everything the simulator knows.
pub struct Db {
    pub customers: Vec<Customer>,
    /// Customer groups (`customersgroups`): id, name, color, bg_color.
    pub groups: Vec<Value>,
    pub companies: Vec<Value>,
    pub departments: Vec<Value>,
    pub agents: Vec<Value>,
    pub tags: Vec<Value>,
    pub conversations: Vec<Value>,
    /// Conversation id → message groups.
    pub messages: BTreeMap<String, Vec<Value>>,
    /// Conversation id → custom fields.
    pub conversation_fields: BTreeMap<String, BTreeMap<String, String>>,
    pub knowledgebases: Vec<Value>,
    pub kb_entries: Vec<Value>,
    pub suggestioncategories: Vec<Value>,
    pub widgets: Vec<Value>,
    pub files: Vec<Value>,
    pub next_id: u64,
}

impl Db {
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:06}", self.next_id)
    }

    pub fn customer(&self, ident: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.matches(ident))
    }

    pub fn customer_mut(&mut self, ident: &str) -> Option<&mut Customer> {
        self.customers.iter_mut().find(|c| c.matches(ident))
    }

    pub fn seeded() -> Db {
        let mut rng = Rng::new(0x11a9_e47a);
        let groups = vec![
            json!({"id": "ag0h", "name": "VIP", "color": "FFFFFF", "bg_color": "D4AF37"}),
            json!({"id": "2kt8", "name": "Premium", "color": "FFFFFF", "bg_color": "1E88E5"}),
            json!({"id": "g3nl", "name": "Newsletter", "color": "000000", "bg_color": "C8E6C9"}),
            json!({"id": "g4ws", "name": "Wholesale", "color": "FFFFFF", "bg_color": "6D4C41"}),
        ];
        let departments: Vec<Value> = ["Support", "Sales", "Billing", "サポート"]
            .iter()
            .enumerate()
            .map(|(i, name)| json!({"departmentid": format!("dep{:02}", i + 1), "name": name, "description": format!("{name} team"), "onlinestatus": if i % 2 == 0 { "Y" } else { "N" }, "presetstatus": "A", "deleted": "N"}))
            .collect();
        let agents: Vec<Value> = (1..=8)
            .map(|i| {
                let (first, last) = (LATIN_FIRST[i % LATIN_FIRST.len()], LATIN_LAST[i % LATIN_LAST.len()]);
                json!({"contactid": format!("acid{i:03}"), "userid": format!("auid{i:03}"), "email": format!("agent{i}@example.com"),
                       "firstname": first, "lastname": last, "gender": if i % 2 == 0 { "F" } else { "M" }, "role": "A",
                       "authtoken": rng.token(30), "departmentid": format!("dep{:02}", i % 4 + 1), "onlinestatus": if i % 3 == 0 { "N" } else { "Y" }})
            })
            .collect();
        let companies: Vec<Value> = ["Acme Corp", "Globex", "Initech", "株式会社サンプル", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Soylent", "Tyrell"]
            .iter()
            .enumerate()
            .map(|(i, name)| json!({"id": format!("comp{:03}", i + 1), "name": name, "datecreated": datetime(i as u64 * 50), "language": if i == 3 { "ja" } else { "en" },
                                     "emails": format!("info@company{}.example.com", i + 1), "phones": format!("+1-555-01{:02}", i + 1)}))
            .collect();
        let tags: Vec<Value> =
            [("urgent", "FF0000"), ("billing", "00AA00"), ("bug", "AA00AA"), ("feature", "0000FF"), ("vip", "D4AF37"), ("返金", "888888")]
                .iter()
                .enumerate()
                .map(|(i, (name, bg))| json!({"id": format!("tag{}", i + 1), "name": name, "color": "FFFFFF", "bg_color": bg}))
                .collect();
        let customers = seed_customers(&mut rng);
        let (conversations, messages) = seed_conversations(&mut rng, &customers, &departments, &agents);
        let knowledgebases = vec![json!({"kb_id": "kb01", "name": "Help center"}), json!({"kb_id": "kb02", "name": "ヘルプ"})];
        let kb_entries = seed_kb();
        let suggestioncategories = vec![
            json!({"id": "sc1", "title": "Product ideas", "path": "/product"}),
            json!({"id": "sc2", "title": "Integrations", "path": "/integrations"}),
            json!({"id": "sc3", "title": "改善提案", "path": "/kaizen"}),
        ];
        let widgets = (1..=3)
            .map(|i| json!({"contactwidgetid": format!("w{i:04}"), "name": format!("Chat button {i}"), "provide": "BFC", "rtype": "C", "status": "A",
                             "departmentid": format!("dep{:02}", i), "integration_code": format!("&lt;script id=&quot;la_x{i}&quot;&gt;&lt;/script&gt;"), "onlinecode": format!("<div>online {i}</div>")}))
            .collect();
        let files = vec![
            json!({"fileid": "f000001", "created": datetime(10), "filename": "invoice.pdf", "filesize": "18234", "filetype": "application/pdf", "downloads": "3", "downloadUrl": "https://files.example.com/invoice.pdf"}),
        ];
        Db {
            customers,
            groups,
            companies,
            departments,
            agents,
            tags,
            conversations,
            messages,
            conversation_fields: BTreeMap::new(),
            knowledgebases,
            kb_entries,
            suggestioncategories,
            widgets,
            files,
            next_id: 1000,
        }
    }
}

fn seed_customers(rng: &mut Rng) -> Vec<Customer> {
    let documented = |n: u32, email: &str, first: &str, role: &str, groups: Vec<String>| Customer {
        contactid: format!("cid{n:05}"),
        email: email.into(),
        firstname: first.into(),
        lastname: "Doe".into(),
        systemname: format!("system{n:03}"),
        authtoken: if n == 1 { "4fsd5f4s6f4s56f4s56f4s56f4sd56".into() } else { "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c".into() },
        browsercookiename: "V_auth".into(),
        role: role.into(),
        gender: "M".into(),
        userid: format!("uid{n:05}"),
        datecreated: datetime(u64::from(n)),
        phone: String::new(),
        note: String::new(),
        companyid: None,
        fields: BTreeMap::new(),
        groups,
    };
    // The two customers of LiveAgent's documentation come first, exactly as published.
    let mut out = vec![
        documented(1, "john@example.com", "John", "V", vec!["ag0h".into(), "2kt8".into()]),
        documented(2, "Janet@example.com", "Janet", "R", vec!["2kt8".into()]),
    ];
    for n in 3..=CUSTOMERS as u32 {
        let japanese = n % 3 == 0;
        let (first, last, email) = if japanese {
            let (f, fr) = JA_FIRST[rng.below(JA_FIRST.len())];
            let (l, lr) = JA_LAST[rng.below(JA_LAST.len())];
            (f.to_string(), l.to_string(), format!("{lr}.{fr}{n}@example.jp"))
        } else {
            let f = LATIN_FIRST[rng.below(LATIN_FIRST.len())];
            let l = LATIN_LAST[rng.below(LATIN_LAST.len())];
            (f.to_string(), l.to_string(), format!("{}.{}{n}@example.com", f.to_lowercase(), l.to_lowercase()))
        };
        let registered = rng.below(2) == 0;
        out.push(Customer {
            contactid: format!("cid{n:05}"),
            email,
            firstname: first,
            lastname: last,
            systemname: format!("system{n:03}"),
            authtoken: rng.token(30),
            browsercookiename: if registered { "V_auth".into() } else { "LaVisitorId".into() },
            role: if registered { "R".into() } else { "V".into() },
            gender: if rng.below(2) == 0 { "M".into() } else { "F".into() },
            userid: format!("uid{n:05}"),
            datecreated: datetime(u64::from(n) * 24 + rng.below(24) as u64),
            phone: format!("+81-90-{:04}-{:04}", rng.below(10_000), rng.below(10_000)),
            note: String::new(),
            companyid: (n % 7 == 0).then(|| format!("comp{:03}", n % 10 + 1)),
            fields: BTreeMap::new(),
            groups: if n % 5 == 0 { vec!["g3nl".into()] } else { vec![] },
        });
    }
    out
}

/// One conversation record as `GET /conversations` lists it.
pub fn conversation(rng: &mut Rng, n: usize, owner: &Customer, departments: &[Value]) -> Value {
    let dep = &departments[n % departments.len()];
    let tags = match n % 4 {
        0 => Value::Null,
        1 => json!("tag1"),
        2 => json!("tag2,tag3"),
        _ => json!("tag5"),
    };
    json!({
        "conversationid": format!("c{n:06}"),
        "code": format!("{}-{:03}-{:03}", ["ABC", "QWE", "ZXC"][n % 3], n % 1000, (n * 7) % 1000),
        "publicurlcode": rng.token(12),
        "departmentid": dep["departmentid"],
        "departmentname": dep["name"],
        "status": STATUSES[n % STATUSES.len()],
        "channel_type": CHANNELS[n % CHANNELS.len()],
        "datecreated": datetime(n as u64 * 5),
        "datechanged": datetime(n as u64 * 5 + 3),
        "datedue": datetime(n as u64 * 5 + 48),
        "ownername": format!("{} {}", owner.firstname, owner.lastname),
        "owneremail": owner.email,
        "subject": format!("Question #{n} about order {}", 10_000 + n),
        "tags": tags,
    })
}

fn seed_conversations(
    rng: &mut Rng,
    customers: &[Customer],
    departments: &[Value],
    agents: &[Value],
) -> (Vec<Value>, BTreeMap<String, Vec<Value>>) {
    let mut convs = Vec::new();
    let mut messages = BTreeMap::new();
    for n in 1..=CONVERSATIONS {
        let owner = &customers[(n * 7) % customers.len()];
        let c = conversation(rng, n, owner, departments);
        let id = format!("c{n:06}");
        let agent = &agents[n % agents.len()];
        let groups: Vec<Value> = (0..1 + n % 3)
            .map(|g| {
                let (who, rtype) = if g % 2 == 0 { (owner.userid.clone(), "M") } else { (agent["userid"].as_str().unwrap_or("").to_string(), "M") };
                let at = datetime(n as u64 * 5 + g as u64);
                json!({"messagegroupid": format!("mg{n:05}{g}"), "userid": who, "rtype": rtype, "rstatus": "P", "datecreated": at, "datefinished": at,
                       "messages": [{"messageid": format!("m{n:05}{g}"), "userid": who, "rtype": "M", "datecreated": at,
                                     "message": if g % 2 == 0 { format!("Hello, I need help with order {}.", 10_000 + n) } else { "Thanks, we are on it. よろしくお願いします。".to_string() }}]})
            })
            .collect();
        messages.insert(id, groups);
        convs.push(c);
    }
    (convs, messages)
}

fn seed_kb() -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (title, rtype)) in
        [("Getting started", "C"), ("Reset your password", "A"), ("Billing FAQ", "A"), ("API keys", "A"), ("よくある質問", "A")]
            .iter()
            .enumerate()
    {
        let id = format!("kbe{:03}", i + 1);
        out.push(json!({
            "kb_id": "kb01", "kb_entry_id": id, "parent_entry_id": if i == 0 { Value::Null } else { json!("kbe001") },
            "rtype": rtype, "rstatus": "P", "access": "P", "access_inherited": "Y", "urlcode": format!("{}-{}", i + 1, title.to_lowercase().replace(' ', "-")),
            "treepath": format!("/1/{}", i + 1), "rorder": i.to_string(), "title": title, "metadescription": "", "keywords": "help",
            "content": format!("<p>{title}: step by step.</p>"), "conversationid": Value::Null, "departmentid": "dep01", "views": (i * 17).to_string(),
            "votes": (i * 3).to_string(), "datecreated": datetime(i as u64 * 30), "datechanged": datetime(i as u64 * 30 + 5), "deleted": "N", "description": ""
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_data_is_deterministic_and_documented_first() {
        let (a, b) = (Db::seeded(), Db::seeded());
        assert_eq!(a.customers.len(), CUSTOMERS);
        assert_eq!(a.customers[150].email, b.customers[150].email);
        assert_eq!(a.conversations, b.conversations);
        assert_eq!(a.customers[0].email, "john@example.com");
        assert!(a.customers.iter().any(|c| c.firstname == "太郎" || c.lastname == "山田"));
        let mut dates: Vec<&str> = a.customers.iter().map(|c| c.datecreated.as_str()).collect();
        let sorted = {
            let mut d = dates.clone();
            d.sort();
            d
        };
        dates.dedup();
        assert_eq!(dates.len(), CUSTOMERS, "distinct");
        assert!(sorted.iter().all(|d| d.len() == 19));
    }
}
