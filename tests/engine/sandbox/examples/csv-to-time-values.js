// A CSV file (reference;date;value, local Paris time) to OIBus time-values, in upstream's custom transformer API:
// transform(content, source, filename, options) returns {data, filename, numberOfElement}.
const Papa = require('papaparse');
const { DateTime } = require('luxon');

function transform(content, source, filename, options) {
  const parsed = Papa.parse(content, { header: true, delimiter: options.delimiter || ';', skipEmptyLines: true });
  const values = parsed.data.map((row) => ({
    pointId: row.reference,
    timestamp: DateTime.fromFormat(row.date, 'yyyy-MM-dd HH:mm:ss', { zone: options.timezone || 'Europe/Paris' })
      .toUTC()
      .toISO(),
    data: { value: Number(row.value) },
  }));
  return { data: values, filename: filename.replace(/\.csv$/, '.json'), numberOfElement: values.length };
}
