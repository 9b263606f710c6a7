package logship.engine;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.EmbeddedNode;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs one single-node Elasticsearch in this JVM until SIGTERM/SIGINT.
 *
 * <p>Arguments are Elasticsearch settings as {@code key=value}; they override the defaults
 * below. {@code path.home} is required; {@code path.data} defaults to {@code path.home/data}.
 * Only the HTTP transport plugin is loaded: no security, no ML, no GeoIP downloader
 * (those live in modules this node does not load), so nothing reaches the network.
 */
public final class ElasticsearchNode {
    private ElasticsearchNode() {
    }

    public static void main(String[] args) throws Exception {
        Settings.Builder builder = Settings.builder()
            .put("cluster.name", "logship-test")
            .put("node.name", "logship-test-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", "9200")
            .put("transport.port", "0")
            .put("discovery.type", "single-node")
            .put("node.processors", "1")
            .put("indices.breaker.total.use_real_memory", "false")
            .put("cluster.routing.allocation.disk.threshold_enabled", "false")
            .put("action.auto_create_index", "true");
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq <= 0) throw new IllegalArgumentException("expected key=value, got: " + arg);
            builder.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        String home = builder.get("path.home");
        if (home == null) throw new IllegalArgumentException("path.home=DIR is required");
        if (builder.get("path.data") == null) builder.put("path.data", Path.of(home, "data").toString());
        if (builder.get("path.logs") == null) builder.put("path.logs", Path.of(home, "logs").toString());
        Files.createDirectories(Path.of(builder.get("path.data")));
        Files.createDirectories(Path.of(builder.get("path.logs")));
        Settings settings = builder.build();

        // Log to the console (the caller redirects it to a file): the config ships as a resource.
        Path configDir = Files.createDirectories(Path.of(home, "config"));
        try (InputStream config = ElasticsearchNode.class.getResourceAsStream("/logship-engine-log4j2.properties")) {
            Files.copy(config, configDir.resolve("log4j2.properties"), StandardCopyOption.REPLACE_EXISTING);
        }
        LogNames.set(settings);
        LogConfigurator.configure(new Environment(settings, configDir), true);
        long started = System.nanoTime();
        Node node = new EmbeddedNode(settings, List.of(Netty4Plugin.class, RootInfoPlugin.class));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "logship-node-shutdown"));

        node.start();
        var address = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        System.out.printf("logship-engine: elasticsearch ready at http://%s:%d in %d ms%n",
            address.getAddress(), address.getPort(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        System.out.flush();
        stopped.await();
    }
}
