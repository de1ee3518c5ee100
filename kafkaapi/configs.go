package kafkaapi

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/storage"
)

// configEntry is one described config, the union of what DescribeConfigs
// and CreateTopics v5+ report.
type configEntry struct {
	Name        string
	Value       *string
	ReadOnly    bool
	IsDefault   bool
	Source      kmsg.ConfigSource
	IsSensitive bool
	Type        storage.ConfigType
	Doc         string
	Synonyms    []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

// topicConfigEntries describes a topic's configs: the explicit value
// (DYNAMIC_TOPIC_CONFIG), else the broker's setting (STATIC_BROKER_CONFIG),
// else the built-in default (DEFAULT_CONFIG). names filters when non-empty.
func (s *Server) topicConfigEntries(explicit map[string]string, names []string, synonyms, docs bool) []configEntry {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []configEntry
	for _, d := range storage.TopicConfigDefs() {
		if len(want) > 0 && !want[d.Name] {
			continue
		}
		e := configEntry{Name: d.Name, Type: d.Type}
		if docs && d.Doc != "" {
			doc := d.Doc
			e.Doc = doc
		}
		v, src := d.Default, kmsg.ConfigSourceDefaultConfig
		var syn []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		addSyn := func(name, value string, src kmsg.ConfigSource) {
			sy := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			sy.Name, sy.Source = name, src
			sy.Value = &value
			syn = append(syn, sy)
		}
		if bv, ok := s.deps.Config.TopicDefaults[d.Name]; ok && bv != d.Default {
			v, src = bv, kmsg.ConfigSourceStaticBrokerConfig
		}
		if ev, ok := explicit[d.Name]; ok {
			addSyn(d.Name, ev, kmsg.ConfigSourceDynamicTopicConfig)
			v, src = ev, kmsg.ConfigSourceDynamicTopicConfig
		}
		if bv, ok := s.deps.Config.TopicDefaults[d.Name]; ok && bv != d.Default && d.BrokerKey != "" {
			addSyn(d.BrokerKey, bv, kmsg.ConfigSourceStaticBrokerConfig)
		}
		addSyn(d.Name, d.Default, kmsg.ConfigSourceDefaultConfig)
		e.Value, e.Source, e.IsDefault = &v, src, src == kmsg.ConfigSourceDefaultConfig
		if synonyms {
			e.Synonyms = syn
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries describes the broker's own (static) settings.
func (s *Server) brokerConfigEntries(names []string, docs bool) []configEntry {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	var out []configEntry
	for _, be := range s.deps.Config.BrokerEntries {
		if len(want) > 0 && !want[be.Name] {
			continue
		}
		e := configEntry{Name: be.Name, ReadOnly: true, IsSensitive: be.Sensitive, Type: storage.TypeString}
		if !be.Sensitive {
			v := be.Value
			e.Value = &v
		}
		e.Source, e.IsDefault = kmsg.ConfigSourceStaticBrokerConfig, be.Default
		if be.Default {
			e.Source = kmsg.ConfigSourceDefaultConfig
		}
		if docs {
			e.Doc = be.Doc
		}
		out = append(out, e)
	}
	return out
}

// wireConfigType is DescribeConfigs' code (v3+) of a config value type.
func wireConfigType(t storage.ConfigType) kmsg.ConfigType {
	switch t {
	case storage.TypeBoolean:
		return kmsg.ConfigTypeBoolean
	case storage.TypeString:
		return kmsg.ConfigTypeString
	case storage.TypeInt:
		return kmsg.ConfigTypeInt
	case storage.TypeShort:
		return kmsg.ConfigTypeShort
	case storage.TypeLong:
		return kmsg.ConfigTypeLong
	case storage.TypeDouble:
		return kmsg.ConfigTypeDouble
	case storage.TypeList:
		return kmsg.ConfigTypeList
	}
	return kmsg.ConfigTypeUnknown
}
