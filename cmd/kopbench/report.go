package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// medianOf is the median of f over runs.
func medianOf[T any](runs []T, f func(T) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// spreadOf is (max − min) / median of f over runs, in percent.
func spreadOf[T any](runs []T, f func(T) float64) float64 {
	m := medianOf(runs, f)
	if m == 0 {
		return 0
	}
	lo, hi := f(runs[0]), f(runs[0])
	for _, r := range runs {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return 100 * (hi - lo) / m
}

// cellf formats the median and spread of f over runs.
func cellf[T any](runs []T, f func(T) float64, format string) string {
	if len(runs) == 0 {
		return "–"
	}
	s := fmt.Sprintf(format, medianOf(runs, f))
	if len(runs) > 1 {
		s += fmt.Sprintf(" ±%.0f%%", spreadOf(runs, f))
	}
	return s
}

// ms formats a duration in milliseconds.
func ms(d float64) string {
	v := d / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func durf[T any](runs []T, f func(T) time.Duration) string {
	if len(runs) == 0 {
		return "–"
	}
	return ms(medianOf(runs, func(r T) float64 { return float64(f(r)) }))
}

// machine describes where the run took place.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); m != nil {
			model = strings.TrimSpace(string(m[1]))
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if m := regexp.MustCompile(`(?m)^MemTotal:\s+(\d+) kB$`).FindSubmatch(b); m != nil {
			fmt.Sscan(string(m[1]), &kb)
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	java := "Java unknown"
	var out bytes.Buffer
	cmd := exec.Command("java", "-version")
	cmd.Stderr = &out
	if cmd.Run() == nil {
		java = strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
	}
	return fmt.Sprintf("%s, %d cores%s, Linux %s, %s, %s", model, runtime.NumCPU(), mem, strings.TrimSpace(string(kernel)), runtime.Version(), java)
}

// report renders the results as markdown.
func (b *bench) report() string {
	var w strings.Builder
	fmt.Fprintf(&w, "# `make bench`: KOP side by side\n\n")
	fmt.Fprintf(&w, "Run on %s: %s.\n\n", b.started.UTC().Format("2006-01-02"), machine())
	fmt.Fprintf(&w, "All on 127.0.0.1 at once, each at its default durability: KOP standalone fsyncs its log before every acknowledgement (group commit); "+
		"Apache Kafka 3.9.1 (KRaft, one combined node, Kafka's JVM defaults) acknowledges once the write is in the page cache; "+
		"KOP on Pulsar and pulsar-client-go use the same Pulsar 4.0 standalone (BookKeeper journal). "+
		"Uncompressed random values, acks=all. franz-go: idempotent, batches up to 1 MiB, 20,000 records buffered; "+
		"consumed without a group, timed from the client's creation. Java perf tools (kafka-tools 3.9.1): the Java producer's defaults "+
		"(16 KiB batches, no linger, idempotent), consumer in a group of its own, `fetch.MB.sec` (group join excluded). "+
		"pulsar-client-go: batches up to 1 MiB or 1,000 records, 20,000 pending, exclusive subscription. "+
		"Broker CPU is user + system time of the broker's processes (KOP on Pulsar: KOP and Pulsar; native: Pulsar) per GiB moved. "+
		"Every run starts with sync(2), so none pays for the writeback of the one before. "+
		"%d rounds; systems take turns within each round; medians, ± the spread (max − min) / median. "+
		"This machine is shared and small: read ratios as rough.\n\n", b.o.rounds)

	fmt.Fprintf(&w, "## Maximum throughput and consumer catch-up\n\n")
	fmt.Fprintf(&w, "%d records of 1 KiB or %d of 100 B per run.\n\n", b.o.recordsOf(shape{1, 1024}), b.o.recordsOf(shape{1, 100}))
	fmt.Fprintf(&w, "| system | client | workload | produce MiB/s | consume MiB/s | CPU s/GiB produced | CPU s/GiB consumed | produce p50 / p99 at max |\n|---|---|---|---|---|---|---|---|\n")
	for _, sh := range shapes {
		for _, s := range b.systems {
			for _, c := range s.clients(b.o.java) {
				runs := b.maxRuns[cellKey{s.key, c, sh}]
				if len(runs) == 0 {
					continue
				}
				fmt.Fprintf(&w, "| %s | %s | %v | %s | %s | %s | %s | %s / %s |\n", s.name, c, sh,
					cellf(runs, func(r maxRun) float64 { return r.prodMiBs }, "%.1f"),
					cellf(runs, func(r maxRun) float64 { return r.consMiBs }, "%.1f"),
					cellf(runs, func(r maxRun) float64 { return r.prodCPU }, "%.1f"),
					cellf(runs, func(r maxRun) float64 { return r.consCPU }, "%.1f"),
					durf(runs, func(r maxRun) time.Duration { return r.p50 }),
					durf(runs, func(r maxRun) time.Duration { return r.p99 }))
			}
		}
	}
	if len(b.fixed) > 0 {
		fmt.Fprintf(&w, "\n## Latency at a fixed rate\n\n")
		fmt.Fprintf(&w, "Half the slowest system's median maximum for %v each: one rate for the franz-go and pulsar-client-go rows, another for the Java tool's (its own maximum is lower); "+
			"franz-go and pulsar-client-go latencies count from when each record was due, the Java tool's from its send call (whole ms).\n\n", b.o.fixed)
		fmt.Fprintf(&w, "| system | client | workload | records/s | p50 | p99 | p99.9 |\n|---|---|---|---|---|---|---|\n")
		for _, sh := range shapes {
			for _, s := range b.systems {
				for _, c := range s.clients(b.o.java) {
					runs := b.fixed[cellKey{s.key, c, sh}]
					if len(runs) == 0 {
						continue
					}
					fmt.Fprintf(&w, "| %s | %s | %v | %.0f | %s | %s | %s |\n", s.name, c, sh, runs[0].rate,
						durf(runs, func(r fixedRun) time.Duration { return r.p50 }),
						durf(runs, func(r fixedRun) time.Duration { return r.p99 }),
						durf(runs, func(r fixedRun) time.Duration { return r.p999 }))
				}
			}
		}
	}
	fmt.Fprintf(&w, "\n## Peak memory\n\n| system | peak RSS (VmHWM) |\n|---|---|\n")
	for _, s := range b.systems {
		label := s.name
		if s.key == "pulsar" {
			label = "Pulsar standalone (shared by both Pulsar rows)"
		}
		fmt.Fprintf(&w, "| %s | %d MiB |\n", label, peakRSS(s.rssPID))
	}
	fmt.Fprintf(&w, "\n## Against the targets\n\n%s", b.targets())
	return w.String()
}

// targets compares KOP with Kafka, and KOP on Pulsar with native Pulsar,
// shape by shape: the targets.
func (b *bench) targets() string {
	var w strings.Builder
	fmt.Fprintf(&w, "| ratio | client |")
	for _, sh := range shapes {
		fmt.Fprintf(&w, " %v |", sh)
	}
	fmt.Fprintf(&w, " target |\n|---|---|%s---|\n", strings.Repeat("---|", len(shapes)))
	prod := func(r maxRun) float64 { return r.prodMiBs }
	cons := func(r maxRun) float64 { return r.consMiBs }
	cpuIn := func(r maxRun) float64 { return r.prodCPU }
	cpuOut := func(r maxRun) float64 { return r.consCPU }
	row := func(label, client, target string, num, den cellKey, f func(maxRun) float64) {
		if len(b.maxRuns[cellKey{num.sys, num.client, shapes[0]}]) == 0 || len(b.maxRuns[cellKey{den.sys, den.client, shapes[0]}]) == 0 {
			return
		}
		fmt.Fprintf(&w, "| %s | %s |", label, client)
		for _, sh := range shapes {
			n, d := b.maxRuns[cellKey{num.sys, num.client, sh}], b.maxRuns[cellKey{den.sys, den.client, sh}]
			if len(n) == 0 || len(d) == 0 || medianOf(d, f) == 0 {
				fmt.Fprintf(&w, " – |")
				continue
			}
			fmt.Fprintf(&w, " %.2f |", medianOf(n, f)/medianOf(d, f))
		}
		fmt.Fprintf(&w, " %s |\n", target)
	}
	for _, c := range []string{clientFranz, clientJava} {
		kop, kafka := cellKey{sys: "kop", client: c}, cellKey{sys: "kafka", client: c}
		row("KOP / Kafka produce MiB/s", c, "≥ 1.0", kop, kafka, prod)
		row("KOP / Kafka consume MiB/s", c, "≥ 1.0", kop, kafka, cons)
		row("KOP / Kafka CPU per GiB produced", c, "≤ 1.0", kop, kafka, cpuIn)
		row("KOP / Kafka CPU per GiB consumed", c, "≤ 1.0", kop, kafka, cpuOut)
	}
	onPulsar, native := cellKey{sys: "kop-pulsar", client: clientFranz}, cellKey{sys: "pulsar", client: clientPulsar}
	row("KOP on Pulsar / native produce", "franz-go / pulsar-client-go", "≥ 0.9", onPulsar, native, prod)
	row("KOP on Pulsar / native consume", "franz-go / pulsar-client-go", "≥ 0.9", onPulsar, native, cons)
	for _, c := range []string{clientFranz, clientJava} {
		kop, kafka := b.fixed[cellKey{"kop", c, shape{1, 1024}}], b.fixed[cellKey{"kafka", c, shape{1, 1024}}]
		if len(kop) == 0 || len(kafka) == 0 {
			continue
		}
		fmt.Fprintf(&w, "| KOP / Kafka p99 at a fixed rate | %s |", c)
		for _, sh := range shapes {
			kop, kafka := b.fixed[cellKey{"kop", c, sh}], b.fixed[cellKey{"kafka", c, sh}]
			p99 := func(r fixedRun) float64 { return float64(r.p99) }
			if len(kop) == 0 || len(kafka) == 0 || medianOf(kafka, p99) == 0 {
				fmt.Fprintf(&w, " – |")
				continue
			}
			fmt.Fprintf(&w, " %.2f |", medianOf(kop, p99)/medianOf(kafka, p99))
		}
		fmt.Fprintf(&w, " ≤ 1.0 |\n")
	}
	for _, s := range b.systems {
		if s.key == "kop" || s.key == "kop-pulsar" {
			fmt.Fprintf(&w, "| %s peak RSS MiB | | %d | | | | ≤ 256 |\n", s.name, peakRSS(s.rssPID))
		}
	}
	return w.String()
}

// The README's benchmark section lies between these markers; kopbench
// rewrites it.
const (
	readmeBegin = "<!-- bench:begin (written by make bench) -->"
	readmeEnd   = "<!-- bench:end -->"
)

// updateReadme rewrites the README's benchmark section: the machine, the
// chart and the target ratios, with a link to the whole report.
func (b *bench) updateReadme(path string) error {
	readme, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(readme, []byte(readmeBegin)), bytes.Index(readme, []byte(readmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q … %q section to write into", path, readmeBegin, readmeEnd)
	}
	rel, err := filepath.Rel(filepath.Dir(path), b.o.out)
	if err != nil {
		return err
	}
	rel = filepath.ToSlash(rel)
	var w strings.Builder
	fmt.Fprintf(&w, "%s\n", readmeBegin)
	fmt.Fprintf(&w, "Last `make bench` (%s): %s; %d rounds, medians. Full tables, method and spreads: [%s/results.md](%s/results.md).\n\n",
		b.started.UTC().Format("2006-01-02"), machine(), b.o.rounds, rel, rel)
	fmt.Fprintf(&w, "![Produce and consume MiB/s of KOP, Apache Kafka, KOP on Pulsar and Pulsar](%s/throughput.png)\n\n", rel)
	w.WriteString(b.targets())
	out := append(append(append([]byte{}, readme[:i]...), w.String()...), readme[j:]...)
	return os.WriteFile(path, out, 0o644)
}
