package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// systemColors keeps each system's colour across the panels.
var systemColors = map[string]color.Color{
	"kop":        color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"kafka":      color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
	"kop-pulsar": color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	"pulsar":     color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// chart draws the median produce and consume MiB/s of every system and
// workload, for the Go clients and for the Java perf tools, into a PNG.
func (b *bench) chart(path string) error {
	type panel struct {
		title   string
		clients []string
		f       func(maxRun) float64
	}
	panels := []panel{
		{"produce MiB/s — franz-go (native: pulsar-client-go)", []string{clientFranz, clientPulsar}, func(r maxRun) float64 { return r.prodMiBs }},
		{"consume MiB/s — franz-go (native: pulsar-client-go)", []string{clientFranz, clientPulsar}, func(r maxRun) float64 { return r.consMiBs }},
	}
	if b.o.java {
		panels = append(panels,
			panel{"produce MiB/s — Java perf tools", []string{clientJava}, func(r maxRun) float64 { return r.prodMiBs }},
			panel{"consume MiB/s — Java perf tools", []string{clientJava}, func(r maxRun) float64 { return r.consMiBs }})
	}
	rows := (len(panels) + 1) / 2
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, 2)
	}
	labels := make([]string, len(shapes))
	for i, sh := range shapes {
		labels[i] = sh.String()
	}
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.Y.Min = 0
		p.NominalX(labels...)
		p.Legend.Top = true
		width := vg.Points(14)
		var bars []*plotter.BarChart
		for _, s := range b.systems {
			vals := make(plotter.Values, len(shapes))
			any := false
			for j, sh := range shapes {
				for _, c := range pn.clients {
					if runs := b.maxRuns[cellKey{s.key, c, sh}]; len(runs) > 0 {
						vals[j] = medianOf(runs, pn.f)
						any = true
					}
				}
			}
			if !any {
				continue
			}
			bar, err := plotter.NewBarChart(vals, width)
			if err != nil {
				return err
			}
			bar.Color = systemColors[s.key]
			bar.LineStyle.Width = 0
			bars = append(bars, bar)
			p.Legend.Add(s.name, bar)
		}
		for k, bar := range bars {
			bar.Offset = width * vg.Length(2*k-len(bars)+1) / 2
			p.Add(bar)
		}
		plots[i/2][i%2] = p
	}
	img := vgimg.New(vg.Points(1100), vg.Points(float64(380*rows)))
	dc := draw.New(img)
	t := draw.Tiles{Rows: rows, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j, p := range plots[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
