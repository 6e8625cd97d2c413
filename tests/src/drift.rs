//! Entity-versus-schema drift: what an entity declares against what the live table holds.

use std::collections::BTreeMap;

use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Iterable, Statement,
    TryGetable,
};

/// Differences between an entity's columns and its live table: names, types, nullability.
pub async fn entity_drift<E: EntityTrait + Default>(db: &DatabaseConnection) -> Vec<String> {
    let table = E::default().table_name().to_owned();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
                 FROM pg_attribute a
                 WHERE a.attrelid = 'public.{table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
            ),
        ))
        .await
        .expect("columns of the table");
    let mut live: BTreeMap<String, (String, bool)> = rows
        .iter()
        .map(|r| {
            let name: String = r.try_get_by_index(0).expect("name");
            let ty: String = r.try_get_by_index(1).expect("type");
            let not_null: bool = r.try_get_by_index(2).expect("not null");
            (name, (ty, not_null))
        })
        .collect();
    let null = |not_null: bool| if not_null { "NOT NULL" } else { "NULL" };
    let mut problems = Vec::new();
    for column in E::Column::iter() {
        let def = column.def();
        let name = sea_orm::Iden::to_string(&column);
        let want = (pg_type(def.get_column_type()), !def.is_null());
        match live.remove(&name) {
            None => problems.push(format!(
                "{table}.{name}: in the entity but not in the table"
            )),
            Some(got) if got != want => problems.push(format!(
                "{table}.{name}: entity says {} {}, table says {} {}",
                want.0,
                null(want.1),
                got.0,
                null(got.1)
            )),
            Some(_) => {}
        }
    }
    problems.extend(live.into_iter().map(|(name, (ty, not_null))| {
        format!(
            "{table}.{name}: in the table ({ty} {}) but not in the entity",
            null(not_null)
        )
    }));
    problems
}

/// How PostgreSQL's `format_type` names the type an entity column declares.
pub fn pg_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::Uuid => "uuid".into(),
        ColumnType::Text => "text".into(),
        ColumnType::String(_) => "character varying".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::BigInteger => "bigint".into(),
        ColumnType::Integer => "integer".into(),
        ColumnType::Date => "date".into(),
        ColumnType::TimestampWithTimeZone => "timestamp with time zone".into(),
        ColumnType::Json => "json".into(),
        ColumnType::JsonBinary => "jsonb".into(),
        ColumnType::Inet => "inet".into(),
        ColumnType::Cidr => "cidr".into(),
        ColumnType::Array(inner) => format!("{}[]", pg_type(inner)),
        ColumnType::Enum { name, .. } => name.to_string(),
        ColumnType::Custom(name) => name.to_string(),
        other => format!("{other:?}"),
    }
}

/// An active enum's labels, in declaration order.
pub fn entity_labels<E: ActiveEnum<Value = String> + Iterable>() -> Vec<String> {
    E::iter().map(|v| v.to_value()).collect()
}

/// A Postgres enum's labels, in sort order.
pub async fn enum_labels(db: &DatabaseConnection, name: &str) -> Vec<String> {
    let labels: Vec<String> = scalar(
        db,
        &format!(
            "SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
             FROM pg_enum e WHERE e.enumtypid = '{name}'::regtype"
        ),
    )
    .await;
    labels
}

/// The single value a one-row, one-column query returns.
pub async fn scalar<T: TryGetable>(db: &DatabaseConnection, sql: &str) -> T {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row")
        .try_get_by_index(0)
        .expect("a value")
}
