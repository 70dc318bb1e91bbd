//! docs/behaviour.md's "Event fields" table is the core's `EVENT_FIELDS`:
//! the schema every binding carries, written down where users read it.

use posemesh_registration_core::EVENT_FIELDS;

#[test]
fn the_documented_event_fields_are_the_cores() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/behaviour.md"))
        .expect("docs/behaviour.md");
    let section = doc
        .split("## Event fields")
        .nth(1)
        .expect("an \"Event fields\" section");
    let documented: Vec<(String, Vec<String>)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let names = |cell: &str| -> Vec<String> {
                cell.split(',')
                    .map(|name| name.trim().trim_matches('`').to_owned())
                    .filter(|name| !name.is_empty() && name != "—")
                    .collect()
            };
            (cells[0].trim_matches('`').to_owned(), names(cells[1]))
        })
        .collect();
    let core: Vec<(String, Vec<String>)> = EVENT_FIELDS
        .iter()
        .map(|(event, fields)| {
            let fields = fields.iter().map(|f| (*f).to_owned()).collect();
            ((*event).to_owned(), fields)
        })
        .collect();
    assert_eq!(documented, core);
}

/// `retry_in_ms` → `retryInMs`, as the npm package names the fields.
fn camel_case(snake: &str) -> String {
    let mut words = snake.split('_');
    let mut camel = words.next().unwrap_or_default().to_owned();
    for word in words {
        let mut chars = word.chars();
        camel.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        camel.push_str(chars.as_str());
    }
    camel
}

/// The quoted strings of a line of TypeScript.
fn quoted(line: &str) -> Vec<String> {
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The npm package's declarations give each event the core's fields, camelCased: the
/// `RegistrarEventFields` table of `bindings-wasm/js/types.d.ts`, and the names of
/// `RegistrarEventName`.
#[test]
fn the_typescript_event_fields_are_the_cores() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bindings-wasm/js/types.d.ts"
    );
    let types = std::fs::read_to_string(path).expect("bindings-wasm/js/types.d.ts");
    let block = |start: &str, end: &str| -> String {
        let from = types
            .find(start)
            .unwrap_or_else(|| panic!("{start} in types.d.ts"));
        let rest = &types[from + start.len()..];
        rest[..rest.find(end).expect("its end")].to_owned()
    };
    let declared: Vec<(String, Vec<String>)> =
        block("export interface RegistrarEventFields {", "\n}")
            .lines()
            .map(quoted)
            .filter(|names| !names.is_empty())
            .map(|mut names| {
                let event = names.remove(0);
                names.sort();
                (event, names)
            })
            .collect();
    let mut core: Vec<(String, Vec<String>)> = EVENT_FIELDS
        .iter()
        .filter(|(_, fields)| !fields.is_empty())
        .map(|(event, fields)| {
            let mut fields: Vec<String> = fields.iter().map(|f| camel_case(f)).collect();
            fields.sort();
            ((*event).to_owned(), fields)
        })
        .collect();
    let mut declared_sorted = declared.clone();
    declared_sorted.sort();
    core.sort();
    assert_eq!(declared_sorted, core);

    let mut names = quoted(&block("export type RegistrarEventName =", ";"));
    names.sort();
    let mut core_names: Vec<String> = EVENT_FIELDS.iter().map(|(e, _)| (*e).to_owned()).collect();
    core_names.sort();
    assert_eq!(names, core_names);

    let data = block("export interface RegistrarEventData {", "\n}");
    for (_, fields) in &core {
        for field in fields {
            assert!(
                data.contains(&format!("\n  {field}: ")),
                "RegistrarEventData lacks {field}"
            );
        }
    }
}
