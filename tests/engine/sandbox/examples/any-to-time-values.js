// Any content (an MQTT JSON message) to OIBus time-values, in upstream's custom transformer API, as CommonJS.
const { JSONPath } = require('jsonpath-plus');

module.exports = {
  transform: async (content, source, filename, options) => {
    const message = JSON.parse(content);
    const points = JSONPath({ path: options.path || '$.measures[*]', json: message });
    const values = points.map((point) => ({
      pointId: `${message.device}.${point.name}`,
      timestamp: new Date(point.epochMs).toISOString(),
      data: { value: point.value, quality: point.quality || 'good' },
    }));
    console.info(`converted ${values.length} values from ${filename}`);
    return { data: values, numberOfElement: values.length };
  },
};
