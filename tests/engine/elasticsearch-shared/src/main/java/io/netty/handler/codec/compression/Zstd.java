package io.netty.handler.codec.compression;

/**
 * Shadows Netty's class of the same name (this directory comes first on the classpath):
 * reports zstd as unavailable, so nothing tries to load the zstd-jni native library,
 * which the embedded node does not ship. Needed since Elasticsearch 9.3.
 */
public final class Zstd {
    private Zstd() {
    }

    public static boolean isAvailable() {
        return false;
    }

    public static void ensureAvailability() throws Throwable {
        throw cause();
    }

    public static Throwable cause() {
        return new UnsupportedOperationException("zstd is disabled in the embedded test node");
    }
}
