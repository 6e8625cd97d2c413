//! A published event as Retraced's clients send it, validated as Retraced validates it (same
//! messages), and stricter where the reference says so: unknown keys and non-string map values
//! are violations too.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use registry::audit::lengths;

/// One rule an event breaks, in Retraced's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What is wrong.
    pub message: String,
    /// The field, dotted (`actor.id`).
    pub field: String,
    /// `missing` or `invalid`.
    pub violation: &'static str,
}

/// An object with an id and optional name, href, type and fields (group, actor, target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Link to it in the product.
    pub href: Option<String>,
    /// Its type (targets only).
    pub kind: Option<String>,
    /// Extra string fields.
    pub fields: Option<BTreeMap<String, String>>,
}

/// A valid event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedEvent {
    /// The action, e.g. `user.login`.
    pub action: String,
    /// `c`, `r`, `u` or `d`.
    pub crud: String,
    /// The customer organisation (our tenant), by id or slug.
    pub group: Option<Party>,
    /// Who did it.
    pub actor: Option<Party>,
    /// What it was done to.
    pub target: Option<Party>,
    /// When it happened, per the publisher (as sent).
    pub created: Option<String>,
    /// The client's address (as sent).
    pub source_ip: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Publisher component.
    pub component: Option<String>,
    /// Publisher version.
    pub version: Option<String>,
    /// The publisher's id for the event.
    pub external_id: Option<String>,
    /// Deprecated display title.
    pub display_title: Option<String>,
    /// No actor.
    pub is_anonymous: bool,
    /// The action failed.
    pub is_failure: bool,
    /// Extra string fields.
    pub fields: Option<BTreeMap<String, String>>,
    /// Extra string metadata.
    pub metadata: Option<BTreeMap<String, String>>,
}

const TOP: [&str; 16] = [
    "action",
    "crud",
    "group",
    "displayTitle",
    "created",
    "actor",
    "target",
    "source_ip",
    "description",
    "is_anonymous",
    "is_failure",
    "fields",
    "component",
    "version",
    "external_id",
    "metadata",
];

fn missing(field: &str, message: String) -> Violation {
    Violation {
        message,
        field: field.to_owned(),
        violation: "missing",
    }
}

fn invalid(field: &str, message: String) -> Violation {
    Violation {
        message,
        field: field.to_owned(),
        violation: "invalid",
    }
}

/// Lodash's `isEmpty` as Retraced applies it: absent, null, "", {} and [] are empty.
fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

struct Reader<'a> {
    violations: &'a mut Vec<Violation>,
}

impl Reader<'_> {
    fn string(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.violations.push(invalid(
                    path,
                    format!("Field '{path}' must be a string, received {other}"),
                ));
                None
            }
        }
    }

    fn boolean(&mut self, object: &Map<String, Value>, key: &str) -> bool {
        match object.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.violations.push(invalid(
                    key,
                    format!("Field '{key}' must be a boolean, received {other}"),
                ));
                false
            }
        }
    }

    fn map(
        &mut self,
        object: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<BTreeMap<String, String>> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(entries)) => {
                let mut map = BTreeMap::new();
                for (k, v) in entries {
                    match v {
                        Value::String(s) => {
                            map.insert(k.clone(), s.clone());
                        }
                        other => self.violations.push(invalid(
                            &format!("{path}.{k}"),
                            format!("Field '{path}.{k}' must be a string, received {other}"),
                        )),
                    }
                }
                Some(map)
            }
            Some(other) => {
                self.violations.push(invalid(
                    path,
                    format!("Field '{path}' must be an object of strings, received {other}"),
                ));
                None
            }
        }
    }

    fn unknown_keys(&mut self, object: &Map<String, Value>, allowed: &[&str], prefix: &str) {
        for key in object.keys().filter(|k| !allowed.contains(&k.as_str())) {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            self.violations
                .push(invalid(&path, format!("Unknown field '{path}'")));
        }
    }

    fn party(&mut self, object: &Map<String, Value>, key: &str, allowed: &[&str]) -> Option<Party> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(party)) => {
                self.unknown_keys(party, allowed, key);
                if is_empty(party.get("id")) && !party.is_empty() {
                    self.violations.push(missing(
                        &format!("{key}.id"),
                        format!("Field '{key}.id' is required if '{key}' is present"),
                    ));
                }
                Some(Party {
                    id: self
                        .string(party, "id", &format!("{key}.id"))
                        .unwrap_or_default(),
                    name: self.string(party, "name", &format!("{key}.name")),
                    href: self.string(party, "href", &format!("{key}.href")),
                    kind: self.string(party, "type", &format!("{key}.type")),
                    fields: self.map(party, "fields", &format!("{key}.fields")),
                })
            }
            Some(other) => {
                self.violations.push(invalid(
                    key,
                    format!("Field '{key}' must be an object, received {other}"),
                ));
                None
            }
        }
    }
}

/// Validates one event body.
pub fn validate(value: &Value) -> Result<PublishedEvent, Vec<Violation>> {
    let mut violations = Vec::new();
    let Value::Object(object) = value else {
        return Err(vec![invalid(
            "",
            "An event must be a JSON object".to_owned(),
        )]);
    };
    for field in ["action", "crud"] {
        if is_empty(object.get(field)) {
            violations.push(missing(field, format!("Missing required field '{field}'")));
        }
    }
    let mut read = Reader {
        violations: &mut violations,
    };
    read.unknown_keys(object, &TOP, "");
    let event = PublishedEvent {
        action: read.string(object, "action", "action").unwrap_or_default(),
        crud: read.string(object, "crud", "crud").unwrap_or_default(),
        group: read.party(object, "group", &["id", "name"]),
        actor: read.party(object, "actor", &["id", "name", "href", "fields"]),
        target: read.party(object, "target", &["id", "name", "href", "type", "fields"]),
        created: read.string(object, "created", "created"),
        source_ip: read.string(object, "source_ip", "source_ip"),
        description: read.string(object, "description", "description"),
        component: read.string(object, "component", "component"),
        version: read.string(object, "version", "version"),
        external_id: read.string(object, "external_id", "external_id"),
        display_title: read.string(object, "displayTitle", "displayTitle"),
        is_anonymous: read.boolean(object, "is_anonymous"),
        is_failure: read.boolean(object, "is_failure"),
        fields: read.map(object, "fields", "fields"),
        metadata: read.map(object, "metadata", "metadata"),
    };
    if !event.is_anonymous && is_empty(object.get("actor")) {
        violations.push(missing(
            "actor",
            "Event is not marked anonymous, and missing required field 'actor'".to_owned(),
        ));
    }
    if let Some(created) = &event.created
        && !created.is_empty()
        && chrono::DateTime::parse_from_rfc3339(created).is_err()
        && chrono::NaiveDate::parse_from_str(created, "%Y-%m-%d").is_err()
    {
        violations.push(invalid(
            "created",
            format!("Unable to parse 'created' field as valid time: {created}"),
        ));
    }
    if !event.crud.is_empty() && !["c", "r", "u", "d"].contains(&event.crud.as_str()) {
        violations.push(invalid(
            "crud",
            format!("Invalid value for 'crud' field: {}", event.crud),
        ));
    }
    if let Some(ip) = &event.source_ip
        && !ip.is_empty()
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        violations.push(invalid(
            "source_ip",
            format!("Unable to parse 'source_ip' field as valid IPV4 or IPV6 address: {ip}"),
        ));
    }
    violations.extend(too_long(&event));
    if violations.is_empty() {
        Ok(event)
    } else {
        Err(violations)
    }
}

/// The fields of `event` longer than [`lengths`] allows, as violations.
fn too_long(event: &PublishedEvent) -> Vec<Violation> {
    let mut checks: Vec<(String, &str, usize)> = vec![
        ("action".into(), &event.action, lengths::ACTION),
        ("crud".into(), &event.crud, lengths::LABEL),
    ];
    let optional = [
        ("created", &event.created, lengths::LABEL),
        ("source_ip", &event.source_ip, lengths::LABEL),
        ("description", &event.description, lengths::DESCRIPTION),
        ("component", &event.component, lengths::LABEL),
        ("version", &event.version, lengths::LABEL),
        ("external_id", &event.external_id, lengths::LABEL),
        ("displayTitle", &event.display_title, lengths::LABEL),
    ];
    for (field, value, max) in optional {
        if let Some(value) = value {
            checks.push((field.into(), value, max));
        }
    }
    let maps = [
        ("fields", event.fields.as_ref()),
        ("metadata", event.metadata.as_ref()),
    ];
    for (name, party) in [
        ("group", &event.group),
        ("actor", &event.actor),
        ("target", &event.target),
    ] {
        let Some(party) = party else { continue };
        checks.push((format!("{name}.id"), &party.id, lengths::ID));
        let optional = [
            ("name", &party.name, lengths::NAME),
            ("href", &party.href, lengths::HREF),
            ("type", &party.kind, lengths::KIND),
        ];
        for (field, value, max) in optional {
            if let Some(value) = value {
                checks.push((format!("{name}.{field}"), value, max));
            }
        }
        map_checks(
            &mut checks,
            &format!("{name}.fields"),
            party.fields.as_ref(),
        );
    }
    for (name, map) in maps {
        map_checks(&mut checks, name, map);
    }
    checks
        .into_iter()
        .filter_map(|(field, value, max)| {
            let message = lengths::too_long(&format!("Field '{field}'"), value, max)?;
            Some(invalid(&field, message))
        })
        .collect()
}

/// The keys and values of a string map, to be checked against [`lengths`].
fn map_checks<'a>(
    checks: &mut Vec<(String, &'a str, usize)>,
    path: &str,
    map: Option<&'a BTreeMap<String, String>>,
) {
    for (key, value) in map.into_iter().flatten() {
        checks.push((format!("{path} key"), key, lengths::LABEL));
        let shown = lengths::cut(key, 64);
        checks.push((format!("{path}.{shown}"), value, lengths::MAP_VALUE));
    }
}
