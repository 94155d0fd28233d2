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

    #[test]
    fn every_describe_only_field_is_stripped_and_the_rest_survives_the_round_trip() {
        use aws_sdk_ecs::types::{
            Attribute, Compatibility, LogConfiguration, LogDriver, Secret, TaskDefinitionStatus,
            Volume,
        };
        let t = aws_smithy_types::DateTime::from_secs(1_700_000_000);
        let td = TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:1:task-definition/api:7")
            .revision(7)
            .status(TaskDefinitionStatus::Active)
            .requires_attributes(
                Attribute::builder()
                    .name("ecs.capability.secrets.ssm.environment-variables")
                    .build()
                    .expect("attr"),
            )
            .compatibilities(Compatibility::Ec2)
            .registered_at(t)
            .registered_by("arn:aws:sts::1:assumed-role/deploy/gha")
            .deregistered_at(t)
            .delete_requested_at(t)
            .family("api")
            .task_role_arn("arn:aws:iam::1:role/task")
            .execution_role_arn("arn:aws:iam::1:role/exec")
            .requires_compatibilities(Compatibility::Ec2)
            .cpu("256")
            .memory("512")
            .volumes(Volume::builder().name("data").build())
            .container_definitions(
                ContainerDefinition::builder()
                    .name("api")
                    .image("old")
                    .secrets(
                        Secret::builder()
                            .name("S")
                            .value_from("arn:p")
                            .build()
                            .expect("secret"),
                    )
                    .log_configuration(
                        LogConfiguration::builder()
                            .log_driver(LogDriver::Awslogs)
                            .options("awslogs-group", "/g")
                            .build()
                            .expect("log"),
                    )
                    .build(),
            )
            .build();
        let json = to_json(&td).expect("json");
        for key in crate::ecs::render::DESCRIBE_ONLY {
            assert!(
                json.get(*key).is_some(),
                "{key} is not serialised, the test proves nothing"
            );
        }
        let stripped = crate::ecs::render::strip(&json);
        let back = from_json(&stripped).expect("back");
        assert_eq!(back.task_definition_arn(), None);
        assert_eq!(back.revision(), 0);
        assert_eq!(back.status(), None);
        assert!(back.requires_attributes().is_empty());
        assert!(back.compatibilities().is_empty());
        assert_eq!(back.registered_at(), None);
        assert_eq!(back.registered_by(), None);
        assert_eq!(back.deregistered_at(), None);
        assert_eq!(back.delete_requested_at(), None);
        assert_eq!(back.task_role_arn(), td.task_role_arn());
        assert_eq!(back.execution_role_arn(), td.execution_role_arn());
        assert_eq!(back.volumes(), td.volumes());
        assert_eq!(back.container_definitions(), td.container_definitions());
        assert_eq!(
            back.requires_compatibilities(),
            td.requires_compatibilities()
        );
        assert_eq!((back.cpu(), back.memory()), (Some("256"), Some("512")));
    }
}
