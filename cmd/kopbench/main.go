// Command kopbench is `make bench`: it measures, in one run on 127.0.0.1,
// the same workloads against KOP standalone (embedded log), Apache Kafka
// 3.9 in KRaft mode (jars from Maven Central, deploy/kafka), KOP on a
// Pulsar standalone (deploy/pulsar), and pulsar-client-go directly on
// that Pulsar: 1 and 8 partitions, 1 KiB and 100 B records, acks=all,
// each system at its default durability.
//
// For each it reports the maximum produce throughput, the consumer's
// catch-up throughput over what was produced, the broker's CPU seconds
// per GiB both ways, latency at a fixed rate (half the slowest system's
// maximum: p50/p99/p99.9) and the broker's peak memory; Kafka-protocol
// systems are driven by franz-go and by Kafka's own Java perf tools.
// Systems alternate within each round; medians and spreads over the
// rounds are printed, written to docs/bench/results.md with a chart
// (docs/bench/throughput.png), and summarised in the README's benchmark
// section. Then KOP-only rows: transactions and offset commits.
//
// Every server is started here on free loopback ports and stopped by its
// process id.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kop-project/kop/internal/pulsartest"
)

// options are kopbench's flags.
type options struct {
	bin         string
	records     int
	rounds      int
	fixed       time.Duration
	systems     []string
	java        bool
	out, readme string
	extras      bool
}

func main() {
	var o options
	var systems string
	flag.StringVar(&o.bin, "kop", "bin/kop", "kop binary")
	flag.IntVar(&o.records, "records", 100_000, "records per maximum-throughput run of 1 KiB records (100 B runs send 5 times as many)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each measures every system once per workload, in rotating order")
	flag.DurationVar(&o.fixed, "fixed", 5*time.Second, "length of each fixed-rate latency run (0: none)")
	flag.StringVar(&systems, "systems", "kop,kafka,kop-pulsar,pulsar", "systems to measure, of kop, kafka, kop-pulsar, pulsar")
	flag.BoolVar(&o.java, "java", true, "also drive the Kafka-protocol systems with Kafka's Java perf tools")
	flag.StringVar(&o.out, "out", "docs/bench", "directory for results.md and throughput.png (empty: print only)")
	flag.StringVar(&o.readme, "readme", "README.md", "README whose benchmark section is rewritten (empty: leave it)")
	flag.BoolVar(&o.extras, "kop-extras", true, "then measure KOP alone: transactions and offset commits")
	flag.StringVar(&kafkaScript, "kafka-script", kafkaScript, "deploy/kafka/kafka.sh")
	flag.StringVar(&profileDir, "profile", "", "write KOP's CPU profile (over the rounds) and allocation profile to this directory")
	flag.Parse()
	o.systems = strings.Split(systems, ",")
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// shape is a workload's partitions and record size.
type shape struct{ parts, size int }

func (sh shape) String() string {
	if sh.size >= 1024 && sh.size%1024 == 0 {
		return fmt.Sprintf("%d p, %d KiB", sh.parts, sh.size/1024)
	}
	return fmt.Sprintf("%d p, %d B", sh.parts, sh.size)
}

var shapes = []shape{{1, 1024}, {8, 1024}, {1, 100}, {8, 100}}

// records is how many records a maximum-throughput run of sh sends:
// o.records of 1 KiB, proportionally more of smaller ones (at most 5×).
func (o options) recordsOf(sh shape) int {
	return o.records * min(5, max(1, 1024/sh.size))
}

// cellKey names one system, client and shape.
type cellKey struct {
	sys, client string
	sh          shape
}

// maxRun is one maximum-throughput run: produce, then consume it all.
type maxRun struct {
	prodMiBs, consMiBs float64
	prodRecs           float64 // records/s
	prodCPU, consCPU   float64 // broker CPU s/GiB
	p50, p99           time.Duration
}

// fixedRun is one fixed-rate run.
type fixedRun struct {
	rate           float64
	p50, p99, p999 time.Duration
}

// bench holds the systems and what they measured.
type bench struct {
	o       options
	systems []*system
	maxRuns map[cellKey][]maxRun
	fixed   map[cellKey][]fixedRun
	rates   map[cellKey]float64 // fixed rates by shape and client (sys unset)
	started time.Time
}

func run(o options) error {
	b := &bench{o: o, maxRuns: map[cellKey][]maxRun{}, fixed: map[cellKey][]fixedRun{}, rates: map[cellKey]float64{}, started: time.Now()}
	stop, err := b.start()
	defer stop()
	if err != nil {
		return err
	}
	// -profile: each KOP's CPU profile over the rounds, embedded and on
	// Pulsar.
	var cpuDone []func()
	for _, s := range b.systems {
		if s.httpAddr != "" {
			cpuDone = append(cpuDone, startCPUProfile(s.httpAddr, s.key))
		}
	}
	// JVMs (Kafka's, Pulsar's, the perf tools') speed up for a while as
	// they compile: every system and client runs once, unrecorded, first.
	fmt.Println("Warming up...")
	for _, s := range b.systems {
		for _, c := range s.clients(o.java) {
			if err := b.measureMax(s, c, shape{1, 1024}, warmUp); err != nil {
				return err
			}
		}
	}
	for round := range o.rounds {
		for _, sh := range shapes {
			for _, s := range rotate(b.systems, round) {
				for _, c := range s.clients(o.java) {
					if err := b.measureMax(s, c, sh, round); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, done := range cpuDone {
		done()
	}
	if o.fixed > 0 {
		for _, sh := range shapes {
			if sh.size != 1024 {
				continue // latency at 1 KiB only: the runs take their full length
			}
			b.rates[cellKey{client: clientFranz, sh: sh}] = b.fixedRate(sh, clientFranz, clientPulsar)
			b.rates[cellKey{client: clientPulsar, sh: sh}] = b.rates[cellKey{client: clientFranz, sh: sh}]
			b.rates[cellKey{client: clientJava, sh: sh}] = b.fixedRate(sh, clientJava)
			for round := range o.rounds {
				for _, s := range rotate(b.systems, round) {
					for _, c := range s.clients(o.java) {
						if err := b.measureFixed(s, c, sh, round); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	for _, s := range b.systems {
		if s.httpAddr != "" {
			saveProfile(s.httpAddr, "allocs", "allocs-"+s.key+".pprof")
		}
	}
	report := b.report()
	fmt.Print(report)
	if o.extras {
		extra, err := kopExtras(o.bin)
		if err != nil {
			return err
		}
		fmt.Print(extra)
		report += extra
	}
	if o.out != "" {
		if err := b.write(report); err != nil {
			return err
		}
	}
	return nil
}

// start starts the systems asked for; the function returned stops them
// (also after an error).
func (b *bench) start() (func(), error) {
	var stops []func()
	stopAll := func() {
		for _, f := range slices.Backward(stops) {
			f()
		}
	}
	want := func(k string) bool { return slices.Contains(b.o.systems, k) }
	tmp := func(name string) (string, error) {
		dir, err := os.MkdirTemp("", "kopbench-"+name)
		if err == nil {
			stops = append(stops, func() { os.RemoveAll(dir) })
		}
		return dir, err
	}
	if want("kop") {
		dir, err := tmp("kop")
		if err != nil {
			return stopAll, err
		}
		addr, httpAddr, stop, pid, err := startKop(b.o.bin, dir)
		if err != nil {
			return stopAll, err
		}
		stops = append(stops, stop)
		b.systems = append(b.systems, &system{key: "kop", name: "KOP", addr: addr, httpAddr: httpAddr, pids: []int{pid}, rssPID: pid})
	}
	if want("kafka") {
		fmt.Println("Starting Apache Kafka (KRaft)...")
		dir, err := tmp("kafka")
		if err != nil {
			return stopAll, err
		}
		addr, stop, pid, err := startKafka(dir)
		if err != nil {
			return stopAll, err
		}
		stops = append(stops, stop)
		b.systems = append(b.systems, &system{key: "kafka", name: "Apache Kafka", addr: addr, pids: []int{pid}, rssPID: pid})
	}
	if want("kop-pulsar") || want("pulsar") {
		fmt.Println("Starting a Pulsar standalone...")
		p, err := pulsartest.Start()
		if err != nil {
			return stopAll, err
		}
		stops = append(stops, func() { p.Stop() })
		if want("kop-pulsar") {
			dir, err := tmp("kop-pulsar")
			if err != nil {
				return stopAll, err
			}
			addr, httpAddr, stop, pid, err := startKop(b.o.bin, dir, "--brokerServiceUrl="+p.ServiceURL, "--webServiceUrl="+p.WebURL)
			if err != nil {
				return stopAll, err
			}
			stops = append(stops, stop)
			b.systems = append(b.systems, &system{key: "kop-pulsar", name: "KOP on Pulsar", addr: addr, httpAddr: httpAddr, pids: []int{pid, p.PID()}, rssPID: pid})
		}
		if want("pulsar") {
			b.systems = append(b.systems, &system{key: "pulsar", name: "Pulsar (native)", pulsar: p, pids: []int{p.PID()}, rssPID: p.PID()})
		}
	}
	if len(b.systems) == 0 {
		return stopAll, fmt.Errorf("no system to measure in -systems %q", strings.Join(b.o.systems, ","))
	}
	return stopAll, nil
}

// rotate starts the systems' order at a different one each round, so none
// always runs first (or right after the same neighbour).
func rotate(ss []*system, round int) []*system {
	k := round % len(ss)
	return append(slices.Clone(ss[k:]), ss[:k]...)
}

// topicName is a fresh topic for one run.
func topicName(s *system, client string, sh shape, round int, kind string) string {
	c := map[string]string{clientFranz: "go", clientJava: "java", clientPulsar: "native"}[client]
	name := fmt.Sprintf("bench-%s-%s-%dp-%db-%s%d", s.key, c, sh.parts, sh.size, kind, round)
	if s.addr == "" {
		return "persistent://public/default/" + name
	}
	return name
}

// warmUp is the round number of the unrecorded warm-up runs.
const warmUp = -1

// measureMax produces records as fast as the client goes, then consumes
// them all from the start, counting the broker's CPU time over each half.
// The warm-up round sends a fifth of the records and records nothing.
func (b *bench) measureMax(s *system, client string, sh shape, round int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := b.o.recordsOf(sh)
	kind := "max"
	if round == warmUp {
		n, kind = n/5, "warm"
	}
	topic := topicName(s, client, sh, round, kind)
	if err := b.createTopic(ctx, s, topic, sh.parts); err != nil {
		return err
	}
	gib := float64(n*sh.size) / (1 << 30) // moved by this run
	// No run pays for the writeback of the one before it.
	syscall.Sync()
	mib := gib * 1024
	var r maxRun
	cpu0 := cpuSeconds(s.pids)
	switch client {
	case clientFranz, clientPulsar:
		var ps produceStats
		var err error
		if client == clientFranz {
			ps, err = franzProduce(ctx, s.addr, topic, n, sh.size)
		} else {
			ps, err = pulsarProduce(ctx, s.pulsar, topic, n, sh.size)
		}
		if err != nil {
			return fmt.Errorf("%s, %s, %v: %w", s.name, client, sh, err)
		}
		r.prodMiBs, r.prodRecs = mib/ps.dur.Seconds(), float64(n)/ps.dur.Seconds()
		r.p50, r.p99 = quantile(ps.latency, 0.5), quantile(ps.latency, 0.99)
	case clientJava:
		jr, err := javaProduce(ctx, s.addr, topic, n, sh.size, 0)
		if err != nil {
			return fmt.Errorf("%s, %s, %v: %w", s.name, client, sh, err)
		}
		r.prodMiBs, r.prodRecs = jr.mibs, jr.mibs*(1<<20)/float64(sh.size)
		r.p50, r.p99 = jr.p50, jr.p99
	}
	cpu1 := cpuSeconds(s.pids)
	switch client {
	case clientFranz:
		d, err := franzConsume(ctx, s.addr, topic, n)
		if err != nil {
			return fmt.Errorf("%s, %s, %v: %w", s.name, client, sh, err)
		}
		r.consMiBs = mib / d.Seconds()
	case clientPulsar:
		d, err := pulsarConsume(ctx, s.pulsar, topic, n)
		if err != nil {
			return fmt.Errorf("%s, %s, %v: %w", s.name, client, sh, err)
		}
		r.consMiBs = mib / d.Seconds()
	case clientJava:
		v, err := javaConsume(ctx, s.addr, topic, n)
		if err != nil {
			return fmt.Errorf("%s, %s, %v: %w", s.name, client, sh, err)
		}
		r.consMiBs = v
	}
	cpu2 := cpuSeconds(s.pids)
	r.prodCPU, r.consCPU = (cpu1-cpu0)/gib, (cpu2-cpu1)/gib
	if round == warmUp {
		return nil
	}
	k := cellKey{s.key, client, sh}
	b.maxRuns[k] = append(b.maxRuns[k], r)
	fmt.Printf("round %d  %-16s %-17s %-11v produce %7.1f MiB/s  consume %7.1f MiB/s  CPU s/GiB %5.1f / %5.1f\n",
		round+1, s.name, client, sh, r.prodMiBs, r.consMiBs, r.prodCPU, r.consCPU)
	return nil
}

func (b *bench) createTopic(ctx context.Context, s *system, topic string, parts int) error {
	if s.addr == "" {
		return createPulsarTopic(ctx, s.pulsar.WebURL, topic, parts)
	}
	return createKafkaTopic(ctx, s.addr, topic, parts)
}

// fixedRate is half the slowest system's median maximum produce rate (in
// records a second) for sh among the rows of the given clients: the Go
// clients share one rate, the Java tool (slower on its own) has its own.
func (b *bench) fixedRate(sh shape, clients ...string) float64 {
	slowest := 0.0
	for _, s := range b.systems {
		for _, c := range clients {
			runs := b.maxRuns[cellKey{s.key, c, sh}]
			if len(runs) == 0 {
				continue
			}
			m := medianOf(runs, func(r maxRun) float64 { return r.prodRecs })
			if slowest == 0 || m < slowest {
				slowest = m
			}
		}
	}
	return max(1000, float64(int(slowest/2/1000))*1000)
}

// measureFixed sends the client's fixed rate for sh for b.o.fixed and
// keeps the latency percentiles.
func (b *bench) measureFixed(s *system, client string, sh shape, round int) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.o.fixed+5*time.Minute)
	defer cancel()
	rate := b.rates[cellKey{client: client, sh: sh}]
	topic := topicName(s, client, sh, round, "fixed")
	if err := b.createTopic(ctx, s, topic, sh.parts); err != nil {
		return err
	}
	syscall.Sync()
	r := fixedRun{rate: rate}
	switch client {
	case clientFranz, clientPulsar:
		var lat []time.Duration
		var err error
		if client == clientFranz {
			lat, err = franzFixedRate(ctx, s.addr, topic, sh.size, rate, b.o.fixed)
		} else {
			lat, err = pulsarFixedRate(ctx, s.pulsar, topic, sh.size, rate, b.o.fixed)
		}
		if err != nil {
			return fmt.Errorf("%s, %s, %v at %.0f/s: %w", s.name, client, sh, rate, err)
		}
		r.p50, r.p99, r.p999 = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 0.999)
	case clientJava:
		jr, err := javaProduce(ctx, s.addr, topic, int(rate*b.o.fixed.Seconds()), sh.size, rate)
		if err != nil {
			return fmt.Errorf("%s, %s, %v at %.0f/s: %w", s.name, client, sh, rate, err)
		}
		r.p50, r.p99, r.p999 = jr.p50, jr.p99, jr.p999
	}
	k := cellKey{s.key, client, sh}
	b.fixed[k] = append(b.fixed[k], r)
	fmt.Printf("round %d  %-16s %-17s %-11v at %.0f rec/s: p50 %v  p99 %v  p99.9 %v\n",
		round+1, s.name, client, sh, rate, r.p50, r.p99, r.p999)
	return nil
}

// write puts the report and the chart into o.out and the summary into the
// README.
func (b *bench) write(report string) error {
	if err := os.MkdirAll(b.o.out, 0o755); err != nil {
		return err
	}
	md := filepath.Join(b.o.out, "results.md")
	if err := os.WriteFile(md, []byte(report), 0o644); err != nil {
		return err
	}
	png := filepath.Join(b.o.out, "throughput.png")
	if err := b.chart(png); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Printf("\nwrote %s and %s\n", md, png)
	if b.o.readme == "" {
		return nil
	}
	if err := b.updateReadme(b.o.readme); err != nil {
		return err
	}
	fmt.Printf("updated the benchmark section of %s\n", b.o.readme)
	return nil
}
