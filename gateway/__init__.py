"""The meteolink gateway: serial and BLE in, verified and stored, MQTT out."""
