package io.kop.examples;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * Tiny --key value / --flag parser shared by the demos. Every demo also
 * takes {@code --client-config FILE}: a Java properties file of client
 * settings (security.protocol, sasl.*, ssl.*, ...) added to each client's
 * configuration, over the demo's own (UTF-8, Properties.load escapes);
 * bin/kafka-examples.sh writes one for its {@code --security} option.
 */
final class Args {
    private final Map<String, String> values = new HashMap<>();
    private final Map<String, Boolean> flags = new HashMap<>();

    Args(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("--") && a.contains("=")) {
                values.put(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
            } else if (a.startsWith("--") && i + 1 < args.length && !args[i + 1].startsWith("--")) {
                values.put(a.substring(2), args[++i]);
            } else if (a.startsWith("--")) {
                flags.put(a.substring(2), true);
            } else {
                flags.put(a, true); // bare words such as "sync"
            }
        }
    }

    String get(String key, String def) {
        return values.getOrDefault(key, def);
    }

    long getLong(String key, long def) {
        String v = values.get(key);
        return v == null ? def : Long.parseLong(v);
    }

    boolean has(String flag) {
        return flags.getOrDefault(flag, false);
    }

    /** Adds the settings of --client-config FILE, when given, to props; returns props. */
    Properties withClientConfig(Properties props) {
        String file = values.get("client-config");
        if (file == null) {
            return props;
        }
        Properties extra = new Properties();
        try (Reader in = Files.newBufferedReader(Paths.get(file), StandardCharsets.UTF_8)) {
            extra.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("reading --client-config " + file, e);
        }
        props.putAll(extra);
        return props;
    }
}
