package logship.engine;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;

/** Names the node in the log lines (Elasticsearch 8.19 has no setClusterName). */
final class LogNames {
    private LogNames() {
    }

    static void set(Settings settings) {
        LogConfigurator.setNodeName(settings.get("node.name"));
    }
}
