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
