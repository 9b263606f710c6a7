package logship.engine;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;

/** Names the node and the cluster in the log lines (Elasticsearch 9 takes both). */
final class LogNames {
    private LogNames() {
    }

    static void set(Settings settings) {
        LogConfigurator.setNodeName(settings.get("node.name"));
        LogConfigurator.setClusterName(settings.get("cluster.name"));
    }
}
