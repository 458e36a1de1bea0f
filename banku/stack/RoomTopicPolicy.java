// What a workshop room's broker lets anyone create: compiled by `banku stack up` (banku/stack/policy.py)
// and named in server.properties as create.topic.policy.class.name and alter.config.policy.class.name.
//
// A topic may have at most `banku.room.max.partitions` partitions, and only the topic configs listed
// below, within their bounds: the kit's own topics need nothing more (kafka_io.TOPIC_CONFIG and
// COMPACTED_CONFIG), and a tiny segment.ms or a huge max.message.bytes is how one learner fills the
// disk, the memory maps and the file descriptors of everybody's broker. Kafka's internal topics
// (names starting with "__") are the broker's own business and are not checked.
package banku.room;

import java.util.Map;

import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.PolicyViolationException;
import org.apache.kafka.server.policy.AlterConfigPolicy;
import org.apache.kafka.server.policy.CreateTopicPolicy;

public class RoomTopicPolicy implements CreateTopicPolicy, AlterConfigPolicy {
    private int maxPartitions = 12;
    private long maxMessageBytes = 16L * 1024 * 1024;
    private long minSegmentMs = 600_000L;
    private long minSegmentBytes = 16L * 1024 * 1024;

    @Override
    public void configure(Map<String, ?> configs) {
        maxPartitions = (int) number(configs, "banku.room.max.partitions", maxPartitions);
        maxMessageBytes = number(configs, "banku.room.max.message.bytes", maxMessageBytes);
        minSegmentMs = number(configs, "banku.room.min.segment.ms", minSegmentMs);
        minSegmentBytes = number(configs, "banku.room.min.segment.bytes", minSegmentBytes);
    }

    private static long number(Map<String, ?> configs, String key, long otherwise) {
        Object value = configs.get(key);
        return value == null ? otherwise : Long.parseLong(value.toString().trim());
    }

    @Override
    public void validate(CreateTopicPolicy.RequestMetadata request) throws PolicyViolationException {
        String topic = request.topic();
        if (topic.startsWith("__")) {
            return;
        }
        Integer partitions = request.numPartitions();
        if (partitions == null && request.replicasAssignments() != null) {
            partitions = request.replicasAssignments().size();
        }
        if (partitions != null && partitions > maxPartitions) {
            throw new PolicyViolationException("topic " + topic + ": " + partitions
                + " partitions is more than this room allows (" + maxPartitions + ")");
        }
        check(topic, request.configs());
    }

    @Override
    public void validate(AlterConfigPolicy.RequestMetadata request) throws PolicyViolationException {
        ConfigResource resource = request.resource();
        if (resource.type() != ConfigResource.Type.TOPIC || resource.name().startsWith("__")) {
            return;
        }
        check(resource.name(), request.configs());
    }

    private void check(String topic, Map<String, String> configs) {
        if (configs == null) {
            return;
        }
        for (Map.Entry<String, String> entry : configs.entrySet()) {
            String name = entry.getKey();
            String value = entry.getValue();
            if (value == null) {
                continue;  // back to the broker's default
            }
            String refusal = refusal(name, value.trim());
            if (refusal != null) {
                throw new PolicyViolationException("topic " + topic + ": " + name + "=" + value
                    + " " + refusal);
            }
        }
    }

    /** Why this room refuses a topic config, or null when it allows it. */
    private String refusal(String name, String value) {
        try {
            switch (name) {
                case "cleanup.policy":
                case "compression.type":
                case "retention.ms":
                case "retention.bytes":
                case "min.cleanable.dirty.ratio":
                case "min.insync.replicas":
                case "delete.retention.ms":
                case "min.compaction.lag.ms":
                case "message.timestamp.type":
                case "message.timestamp.before.max.ms":
                case "message.timestamp.after.max.ms":
                case "unclean.leader.election.enable":
                    return null;
                case "max.message.bytes":
                    return Long.parseLong(value) > maxMessageBytes
                        ? "is more than this room allows (" + maxMessageBytes + ")" : null;
                case "segment.ms":
                case "max.compaction.lag.ms":
                    return Long.parseLong(value) < minSegmentMs
                        ? "is less than this room allows (" + minSegmentMs + ")" : null;
                case "segment.bytes":
                    return Long.parseLong(value) < minSegmentBytes
                        ? "is less than this room allows (" + minSegmentBytes + ")" : null;
                default:
                    return "is not a topic config this room lets anyone set";
            }
        } catch (NumberFormatException e) {
            return "is not a number";
        }
    }

    @Override
    public void close() {
    }
}
