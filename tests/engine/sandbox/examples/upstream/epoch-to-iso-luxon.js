export function transform(content, _source, _filename, _options) {
  const { DateTime } = require('luxon');
  const rows = JSON.parse(content);

  const converted = rows.map(row => ({
    ...row,
    timestamp: DateTime.fromMillis(row.epoch_ms, { zone: 'Europe/Paris' }).toISO()
  }));

  return {
    data: JSON.stringify(converted),
    filename: `converted_${Date.now()}.json`,
    numberOfElement: converted.length
  };
}
