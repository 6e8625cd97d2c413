//! Before measuring: every shape's API answer is the floor's; S10's body and its floor.

use anyhow::{Context as _, Result, bail};
use bench::shapes::{self, ReadShape};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

/// Checks the API's answer against the floor's rows; the floor's row count.
pub(crate) async fn verify(
    db: &DatabaseConnection,
    http: &reqwest::Client,
    base: &str,
    shape: &ReadShape,
    statement: &Statement,
    key: &str,
) -> Result<usize> {
    let rows = db.query_all_raw(statement.clone()).await?;
    let response: Value = http
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&shape.body)
        .send()
        .await?
        .json()
        .await?;
    if response.get("errors").is_some() {
        bail!("{}: the API answered {response}", shape.name());
    }
    if shape.page.is_some() {
        let floor: Vec<String> = rows
            .iter()
            .take(shapes::PAGE as usize)
            .map(|r| r.try_get::<i64>("", "id").map(|id| id.to_string()))
            .collect::<Result<_, _>>()?;
        let api: Vec<String> = response["data"]["auditEvents"]["edges"]
            .as_array()
            .context("edges")?
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        if floor != api {
            bail!(
                "{}: the API's rows differ from the floor's ({} vs {})",
                shape.name(),
                api.len(),
                floor.len()
            );
        }
        let more = rows.len() > shapes::PAGE as usize;
        if response["data"]["auditEvents"]["pageInfo"]["hasNextPage"] != json!(more) {
            bail!("{}: hasNextPage differs from the floor's", shape.name());
        }
    } else {
        let product: String = rows
            .first()
            .context("no entitlement row")?
            .try_get("", "A_product")
            .or_else(|_| rows[0].try_get_by_index::<String>(2))?;
        if response["data"]["entitlement"]["product"] != json!(product) {
            bail!(
                "{}: the API's entitlement differs: {response}",
                shape.name()
            );
        }
    }
    Ok(rows.len())
}

/// S10's body (50 Retraced events) and its floor: the same 50 rows as one multi-row INSERT,
/// read back from what the server stored for one call.
pub(crate) async fn s10(
    db: &DatabaseConnection,
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> Result<(Value, String)> {
    let events: Vec<Value> = (0..50)
        .map(|i| {
            json!({
                "action": if i % 3 == 0 { "bench.record.created" } else { "bench.record.updated" },
                "crud": if i % 3 == 0 { "c" } else { "u" },
                "actor": { "id": format!("user-{}", i % 7), "name": "Bench User" },
                "target": { "id": format!("rec-{i}"), "name": format!("Record {i}"), "type": "record" },
                "source_ip": "203.0.113.9",
                "description": "benchmark event",
                "fields": { "n": i.to_string(), "batch": "bench" },
            })
        })
        .collect();
    let body = json!({ "events": events });
    let response = http
        .post(format!("{base}/publisher/v1/project/bench/event/bulk"))
        .header("authorization", format!("token={key}"))
        .json(&body)
        .send()
        .await?;
    if response.status().as_u16() != 201 {
        bail!("S10: the bulk publish answered {}", response.status());
    }
    let created: Value = response.json().await?;
    let ids: Vec<i64> = created
        .as_array()
        .context("ids")?
        .iter()
        .filter_map(|c| c["id"].as_str()?.parse().ok())
        .collect();
    if ids.len() != 50 {
        bail!("S10: expected 50 ids, got {created}");
    }
    let columns = "tenant_id, project_id, actor_id, actor_type, actor_name, action, target_id, \
                   target_type, target_name, product, metadata, source_ip, user_agent";
    let id_list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    // The rows as stored, spelled as literals (quote_nullable) in one VALUES list.
    let values = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT string_agg(format('(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)', \
                 quote_nullable(tenant_id), quote_nullable(project_id), quote_nullable(actor_id), \
                 quote_nullable(actor_type), quote_nullable(actor_name), quote_nullable(action), \
                 quote_nullable(target_id), quote_nullable(target_type), quote_nullable(target_name), \
                 quote_nullable(product), quote_nullable(metadata), quote_nullable(source_ip), \
                 quote_nullable(user_agent)), ', ' ORDER BY id) FROM audit_log WHERE id IN ({id_list})"
            ),
        ))
        .await?
        .context("S10 rows")?;
    let values: String = values.try_get_by_index(0)?;
    Ok((
        body,
        format!("INSERT INTO audit_log ({columns}) VALUES {values};\n"),
    ))
}

/// S14: the API answers `VALID` for the key, and the floor's one row is that key.
pub(crate) async fn s14(
    db: &DatabaseConnection,
    http: &reqwest::Client,
    base: &str,
    verifier: &str,
    body: &Value,
    statement: &Statement,
) -> Result<()> {
    let rows = db.query_all_raw(statement.clone()).await?;
    let floor_id: uuid::Uuid = rows
        .first()
        .context("S14: the floor found no key")?
        .try_get_by_index(0)?;
    let response: Value = http
        .post(format!("{base}/graphql"))
        .bearer_auth(verifier)
        .json(body)
        .send()
        .await?
        .json()
        .await?;
    let answer = &response["data"]["verifyApiKey"];
    if answer["code"] != "VALID" || answer["key"]["id"] != json!(floor_id) {
        bail!("S14: the API answered {response}, the floor's key is {floor_id}");
    }
    Ok(())
}
