//! SDK task definitions <-> JSON, through the SDK's own schema codec, so every field the model
//! knows (today's and tomorrow's) survives the round trip: what is rendered, diffed and
//! registered is exactly what DescribeTaskDefinition returned, minus what deckhand changes.

use aws_sdk_ecs::types::TaskDefinition;
use aws_smithy_json::codec::{JsonCodec, JsonCodecSettings};
use aws_smithy_schema::codec::Codec as _;
use aws_smithy_schema::serde::ShapeSerializer as _;
use serde_json::Value;

fn codec() -> JsonCodec {
    JsonCodec::new(JsonCodecSettings::builder().use_json_name(false).build())
}

/// The task definition as ECS's JSON (camelCase member names, as in the API and the console).
pub(crate) fn to_json(td: &TaskDefinition) -> Result<Value, String> {
    let mut ser = codec().create_serializer();
    ser.write_struct(TaskDefinition::SCHEMA, td)
        .map_err(|e| format!("cannot serialise the task definition: {e}"))?;
    let bytes = ser.finish();
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("cannot read the serialised task definition: {e}"))
}

/// Back from JSON to the SDK type (unknown keys are ignored by the codec).
pub(crate) fn from_json(value: &Value) -> Result<TaskDefinition, String> {
    let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    let codec = codec();
    let mut de = codec.create_deserializer(&bytes);
    TaskDefinition::deserialize(&mut de).map_err(|e| format!("not a valid task definition: {e}"))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{
        ContainerDefinition, KeyValuePair, NetworkMode, PortMapping, TransportProtocol,
    };

    use super::*;

    #[test]
    fn round_trips_through_json() {
        let td = TaskDefinition::builder()
            .family("api")
            .revision(7)
            .network_mode(NetworkMode::Bridge)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("api")
                    .image("repo:1")
                    .memory(512)
                    .environment(KeyValuePair::builder().name("A").value("1").build())
                    .port_mappings(
                        PortMapping::builder()
                            .container_port(3000)
                            .protocol(TransportProtocol::Tcp)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let json = to_json(&td).expect("to json");
        assert_eq!(json["family"], "api");
        assert_eq!(json["networkMode"], "bridge");
        assert_eq!(
            json["containerDefinitions"][0]["environment"][0]["name"],
            "A"
        );
        assert_eq!(
            json["containerDefinitions"][0]["portMappings"][0]["protocol"],
            "tcp"
        );
        let back = from_json(&json).expect("from json");
        assert_eq!(back, td);
    }
}
