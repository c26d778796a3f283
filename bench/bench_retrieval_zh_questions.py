"""Chinese questions over the Debian Edu 12 (Bookworm) manual, for bench_retrieval_zh.py.

Each entry is (question as a Chinese user would ask it, answer needles): a hit is a retrieved
chunk of one of the Debian Edu manuals (the Bookworm PDF, or the .txt and .docx made from the
Bookworm and Bullseye HTML editions) that contains a needle, compared with whitespace removed.
The needles were located by grep in the manual's text (bench_retrieval_zh.py checks each one
again before it runs and stops if one is missing). Many questions share no word with their
answer on purpose ("自动结束已注销用户的后台进程" → "killer 是一个 … perl 脚本").
"""

from __future__ import annotations

QUESTIONS_ZH: list[tuple[str, tuple[str, ...]]] = [
    ("主服务器的主机名 tjener 是什么意思", ("挪威语",)),
    ("Skolelinux 项目是谁在法国开始的", ("RaphaëlHertzog",)),
    ("瘦客户机最少需要多少内存", ("256MiB",)),
    ("工作站和独立系统的最低内存需求", ("1024MiB",)),
    ("LTSP 服务器需要几块网卡", ("两个网卡", "两块网卡")),
    ("路由器内部接口的网络掩码", ("255.0.0.0",)),
    ("Debian Edu 默认使用哪个桌面环境", ("Xfce作为默认桌面环境",)),
    ("哪个桌面环境负载最小", ("LXDE有着最小的负载",)),
    ("如何批量创建大量用户", ("CSV文件",)),
    ("学生怎样修改自己的密码", ("更改自己的密码",)),
    ("更新系统需要执行哪两个命令", ("更新可用软件包的列表",)),
    ("在哪个网页上管理备份", ("slbackup-php",)),
    ("系统监控趋势报告提供哪些曲线图", ("系统监测曲线图",)),
    ("安装后分区太满如何扩大", ("debian-edu-fsautoresize",)),
    ("清理 APT 缓存释放 /var 分区空间", ("aptclean",)),
    ("用版本控制系统跟踪 /etc 中的配置变化", ("etckeeper",)),
    ("在命令行中用文本编辑器修改 LDAP 数据库", ("ldapvi",)),
    ("播放商业 DVD 需要什么库", ("libdvdcss",)),
    ("适合儿童的手写字体", ("Abecedario",)),
    ("自动结束已注销用户的后台进程", ("killer是一个",)),
    ("自动安装安全更新的软件包", ("unattended-upgrades",)),
    ("从互联网访问防火墙后面的服务器", ("autossh",)),
    ("LTSP 客户端默认使用哪个子网", ("192.168.0.0/24是使用",)),
    ("瘦客户机现在用什么软件代替 LTSP", ("X2Go设置",)),
    ("从 U 盘映像安装后如何获得安全更新", ("security.debian.org",)),
    ("中央日志服务使用什么软件", ("rsyslog",)),
]
