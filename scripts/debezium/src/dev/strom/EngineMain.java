package dev.strom;

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Runs the Debezium embedded engine with the connector properties of a file and writes each
 * change event (JSON key and value, as Debezium's JsonConverter renders them) either to Kafka
 * (strom.out=kafka, strom.kafka.bootstrap=HOST:PORT; topic = Debezium's destination) or to
 * stdout as one JSON line per event (strom.out=stdout). Offsets are committed to the engine
 * only after Kafka acknowledged the batch, as Kafka Connect does. SIGTERM stops the engine.
 */
public final class EngineMain {

    private EngineMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: EngineMain CONNECTOR.properties");
            System.exit(2);
        }
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        String out = props.getProperty("strom.out", "stdout");
        KafkaProducer<byte[], byte[]> producer = null;
        if (out.equals("kafka")) {
            Properties kp = new Properties();
            kp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, props.getProperty("strom.kafka.bootstrap"));
            kp.put(ProducerConfig.ACKS_CONFIG, "all");
            kp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            kp.put(ProducerConfig.LINGER_MS_CONFIG, props.getProperty("strom.kafka.linger.ms", "5"));
            kp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            kp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
            producer = new KafkaProducer<>(kp);
        }
        final KafkaProducer<byte[], byte[]> kafka = producer;
        final PrintStream stdout = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        final CountDownLatch done = new CountDownLatch(1);

        DebeziumEngine<ChangeEvent<String, String>> engine = DebeziumEngine.create(Json.class)
                .using(props)
                .notifying((List<ChangeEvent<String, String>> records,
                        DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer) -> {
                    for (ChangeEvent<String, String> record : records) {
                        if (kafka != null) {
                            kafka.send(new ProducerRecord<>(record.destination(), bytes(record.key()),
                                    bytes(record.value())));
                        }
                        else {
                            stdout.print("{\"topic\":\"" + record.destination() + "\",\"key\":"
                                    + raw(record.key()) + ",\"value\":" + raw(record.value()) + "}\n");
                        }
                    }
                    if (kafka != null) {
                        kafka.flush();
                    }
                    else {
                        stdout.flush();
                    }
                    for (ChangeEvent<String, String> record : records) {
                        committer.markProcessed(record);
                    }
                    committer.markBatchFinished();
                })
                .using((success, message, error) -> {
                    if (!success) {
                        System.err.println("engine stopped: " + message);
                        if (error != null) {
                            error.printStackTrace();
                        }
                    }
                    done.countDown();
                })
                .build();

        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                engine.close();
                done.await(30, TimeUnit.SECONDS);
            }
            catch (IOException | InterruptedException e) {
                e.printStackTrace();
            }
            if (kafka != null) {
                kafka.close();
            }
            stdout.flush();
        }));
        done.await();
        executor.shutdown();
        System.exit(0);
    }

    private static byte[] bytes(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    private static String raw(String json) {
        return json == null ? "null" : json;
    }
}
