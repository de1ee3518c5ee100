package disklog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kop-project/kop/storage"
)

const (
	epochCheckpointFile    = "leader-epoch-checkpoint"
	logStartCheckpointFile = "log-start-offset"
	cleanShutdownFile      = "clean-shutdown"
	tmpSuffix              = ".tmp"
	checkpointVersion      = 0
)

// writeFileSync writes data to path (replacing it) and fsyncs the file.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("disklog: write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("disklog: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("disklog: fsync %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("disklog: close %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data so that after a crash the
// file holds either the old or the new content: write a temporary file,
// fsync it, rename it over the old one, fsync the directory.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("disklog: replace %s: %w", name, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that created, renamed and removed entries
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("disklog: open dir for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("disklog: fsync dir %s: %w", dir, err)
	}
	return nil
}

// Checkpoint files use Kafka's text format: a version line, a count line,
// then one line per entry with space-separated fields.

func encodeCheckpoint(lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// readCheckpoint returns the entry lines of dir/name, nil when the file
// does not exist.
func readCheckpoint(dir, name string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disklog: read %s: %w", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 || lines[0] != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("disklog: %s: bad header", name)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("disklog: %s: count line %q does not match %d entries", name, lines[1], len(lines)-2)
	}
	return lines[2:], nil
}

func writeEpochs(dir string, epochs storage.Epochs) error {
	lines := make([]string, len(epochs))
	for i, e := range epochs {
		lines[i] = fmt.Sprintf("%d %d", e.Epoch, e.Start)
	}
	return writeFileAtomic(dir, epochCheckpointFile, encodeCheckpoint(lines))
}

func readEpochs(dir string) (storage.Epochs, error) {
	lines, err := readCheckpoint(dir, epochCheckpointFile)
	if err != nil {
		return nil, err
	}
	epochs := make(storage.Epochs, 0, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("disklog: %s: bad line %q", epochCheckpointFile, l)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return nil, fmt.Errorf("disklog: %s: bad line %q", epochCheckpointFile, l)
		}
		if n := len(epochs); n > 0 && (int32(e) <= epochs[n-1].Epoch || o < epochs[n-1].Start) {
			return nil, fmt.Errorf("disklog: %s: entries out of order at %q", epochCheckpointFile, l)
		}
		epochs = append(epochs, storage.EpochStart{Epoch: int32(e), Start: o})
	}
	return epochs, nil
}

func writeLogStart(dir string, off int64) error {
	return writeOffsetCheckpoint(dir, logStartCheckpointFile, off)
}

// readLogStart returns the checkpointed log start offset, 0 when none.
func readLogStart(dir string) (int64, error) {
	return readOffsetCheckpoint(dir, logStartCheckpointFile)
}

// writeOffsetCheckpoint replaces dir/name with a one-offset checkpoint.
func writeOffsetCheckpoint(dir, name string, off int64) error {
	return writeFileAtomic(dir, name, encodeCheckpoint([]string{strconv.FormatInt(off, 10)}))
}

// readOffsetCheckpoint returns the offset of a one-offset checkpoint, 0
// when the file does not exist.
func readOffsetCheckpoint(dir, name string) (int64, error) {
	lines, err := readCheckpoint(dir, name)
	if err != nil || lines == nil {
		return 0, err
	}
	if len(lines) != 1 {
		return 0, fmt.Errorf("disklog: %s: %d entries, want 1", name, len(lines))
	}
	off, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil || off < 0 {
		return 0, fmt.Errorf("disklog: %s: bad offset %q", name, lines[0])
	}
	return off, nil
}
