export function transform(content, _source, _filename, _options) {
  const messages = JSON.parse(content); // [{ message, timestamp, item: { topic } }, …]
  const timeValues = [];

  // Extract a scalar value from one reading, whatever its shape.
  const toValue = reading => {
    if (reading !== null && typeof reading === 'object') {
      // Flat reading ({ value, … }); fall back to the whole object for nested shapes.
      return reading.value ?? JSON.stringify(reading);
    }
    return reading; // number, string or boolean
  };

  for (const { message, timestamp, item } of messages) {
    // The raw MQTT payload may be JSON (object/array/number/string) or plain text.
    let parsed;
    try {
      parsed = JSON.parse(message);
    } catch {
      parsed = message; // non-JSON payload: keep the raw string
    }

    const readings = Array.isArray(parsed) ? parsed : [parsed];
    for (const reading of readings) {
      timeValues.push({
        pointId: item.topic,
        timestamp: (reading && reading.timestamp) || timestamp,
        data: { value: String(toValue(reading)) }
      });
    }
  }

  return {
    data: JSON.stringify(timeValues),
    // Always a plain string filename — never a payload object (see the caution above).
    filename: `mqtt_${Date.now()}.json`,
    numberOfElement: timeValues.length
  };
}
