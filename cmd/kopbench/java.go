package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// javaProduce runs Kafka's kafka-producer-perf-test (ProducerPerformance
// of kafka-tools 3.9.1, through deploy/kafka/kafka.sh) with the Java
// producer's defaults and acks=all: n records of size bytes, at rate
// records a second (rate <= 0: as fast as it goes). It returns the
// tool's MiB/s and latency percentiles (whole milliseconds, as it
// prints them).
func javaProduce(ctx context.Context, addr, topic string, n, size int, rate float64) (javaProduceResult, error) {
	throughput := "-1"
	if rate > 0 {
		throughput = strconv.Itoa(int(rate))
	}
	out, err := runJava(ctx, "perf-producer", "--topic", topic, "--num-records", strconv.Itoa(n),
		"--record-size", strconv.Itoa(size), "--throughput", throughput,
		"--producer-props", "bootstrap.servers="+addr, "acks=all")
	if err != nil {
		return javaProduceResult{}, err
	}
	return parseProducerPerf(out)
}

type javaProduceResult struct {
	mibs           float64
	p50, p99, p999 time.Duration
}

// producerPerfLine is ProducerPerformance's summary, e.g. "100000 records
// sent, 52910.1 records/sec (51.67 MB/sec), 301.46 ms avg latency, 716.00
// ms max latency, 280 ms 50th, 602 ms 95th, 690 ms 99th, 711 ms 99.9th."
var producerPerfLine = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th`)

func parseProducerPerf(out []byte) (javaProduceResult, error) {
	ms := producerPerfLine.FindAllSubmatch(out, -1)
	if len(ms) == 0 {
		return javaProduceResult{}, fmt.Errorf("no summary in ProducerPerformance's output:\n%s", tail(out))
	}
	m := ms[len(ms)-1]
	mibs, _ := strconv.ParseFloat(string(m[3]), 64)
	msOf := func(b []byte) time.Duration {
		v, _ := strconv.Atoi(string(b))
		return time.Duration(v) * time.Millisecond
	}
	return javaProduceResult{mibs: mibs, p50: msOf(m[6]), p99: msOf(m[8]), p999: msOf(m[9])}, nil
}

// javaConsume runs Kafka's kafka-consumer-perf-test (ConsumerPerformance)
// reading n records of topic from the start in a group of its own, and
// returns its fetch.MB.sec: MiB/s over the time spent fetching, without
// the group join (franz-go's rows consume without a group).
func javaConsume(ctx context.Context, addr, topic string, n int) (float64, error) {
	out, err := runJava(ctx, "perf-consumer", "--bootstrap-server", addr, "--topic", topic,
		"--messages", strconv.Itoa(n), "--timeout", "60000", "--group", "kopbench-"+topic)
	if err != nil {
		return 0, err
	}
	return parseConsumerPerf(out, n)
}

// parseConsumerPerf reads ConsumerPerformance's header line and values line
// ("start.time, end.time, data.consumed.in.MB, MB.sec, ...").
func parseConsumerPerf(out []byte, n int) (float64, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "start.time") {
			continue
		}
		names := strings.Split(lines[i], ",")
		values := strings.Split(lines[i+1], ",")
		field := map[string]string{}
		for j := range min(len(names), len(values)) {
			field[strings.TrimSpace(names[j])] = strings.TrimSpace(values[j])
		}
		got, _ := strconv.Atoi(field["data.consumed.in.nMsg"])
		if got < n {
			return 0, fmt.Errorf("ConsumerPerformance read %d of %d records:\n%s", got, n, tail(out))
		}
		v, err := strconv.ParseFloat(field["fetch.MB.sec"], 64)
		if err != nil {
			return 0, fmt.Errorf("ConsumerPerformance's fetch.MB.sec %q: %w", field["fetch.MB.sec"], err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("no summary in ConsumerPerformance's output:\n%s", tail(out))
}

// runJava runs a perf tool through kafka.sh and returns its standard
// output.
func runJava(ctx context.Context, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, kafkaScript, append([]string{tool}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kafka.sh %s: %w\n%s%s", tool, err, tail(stdout.Bytes()), tail(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

// tail is the last 2 KiB of a tool's output, for error messages.
func tail(b []byte) string {
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}
