package logship.engine;

import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.rest.RestHandler;

import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** {@link RootInfo} registered through Elasticsearch 9's {@code getRestHandlers}. */
public final class RootInfoPlugin extends RootInfo {
    @Override
    public Collection<RestHandler> getRestHandlers(RestHandlersServices services, Supplier<DiscoveryNodes> nodes,
                                                   Predicate<NodeFeature> features) {
        return List.of(handler());
    }
}
