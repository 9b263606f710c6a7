package org.elasticsearch.plugins;

import org.elasticsearch.common.settings.Settings;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * A {@link PluginsService} whose plugins are plain classes already on the classpath,
 * instead of bundles unpacked under {@code $ES_HOME/plugins} or {@code modules}.
 *
 * <p>Lives in this package because {@code LoadedPlugin}, {@code loadPlugin} and
 * {@code loadExtensions} are package-private. Shared by the Elasticsearch 8 and 9 modules;
 * the descriptor, whose constructor differs between them, comes from each module's
 * {@link ClasspathPluginDescriptor}.
 */
public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> loaded;

    public ClasspathPluginsService(Settings settings, PluginsLoader loader, Collection<Class<? extends Plugin>> classes) {
        super(settings, null, loader);
        ClassLoader classLoader = ClasspathPluginsService.class.getClassLoader();
        List<LoadedPlugin> list = new ArrayList<>();
        for (Class<? extends Plugin> type : classes) {
            PluginDescriptor descriptor = ClasspathPluginDescriptor.of(type);
            list.add(new LoadedPlugin(descriptor, loadPlugin(type, settings, null), classLoader));
        }
        loadExtensions(list);
        this.loaded = List.copyOf(list);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return loaded;
    }
}
