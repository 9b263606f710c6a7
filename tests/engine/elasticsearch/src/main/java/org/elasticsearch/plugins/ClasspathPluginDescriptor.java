package org.elasticsearch.plugins;

import org.elasticsearch.Version;

import java.util.List;

/** The descriptor {@link ClasspathPluginsService} gives a classpath plugin (Elasticsearch 9 adds the deployment target). */
final class ClasspathPluginDescriptor {
    private ClasspathPluginDescriptor() {
    }

    static PluginDescriptor of(Class<? extends Plugin> type) {
        return new PluginDescriptor(
                type.getSimpleName(),              // name
                "loaded from the classpath",       // description
                Version.CURRENT.toString(),        // plugin version
                Version.CURRENT.toString(),        // elasticsearch version
                Runtime.version().feature() + "",  // java version
                type.getName(),                    // class name
                null,                              // module name
                List.of(),                         // extended plugins
                false,                             // has native controller
                false,                             // licensed
                false,                             // modular
                false,                             // stable API
                PluginDescriptor.DeploymentTarget.ALL);
    }
}
