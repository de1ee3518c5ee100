package io.kop.examples;

import java.util.HashMap;
import java.util.Map;

/** Tiny --key value / --flag parser shared by the demos. */
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
}
